import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { labDown, labUp, type LabState } from '../../src/lab/index.js';
import { randomBytes } from 'node:crypto';

/** A lab id no other test (or user lab) uses: "t" + 4 random base-36 characters. */
export function testLabId(): string {
  return `t${BigInt(`0x${randomBytes(4).toString('hex')}`).toString(36).slice(0, 4).padStart(4, '0')}`;
}

/** What a lab left on the machine: namespaces, veths, processes mentioning its folder, the folder. */
export function labLeftovers(labId: string, stateDir: string): { namespaces: string[]; links: string[]; processes: string[]; dir: boolean } {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`doctor-${labId}-`));
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter((n) => n.startsWith(`dh${labId}`));
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(stateDir)) processes.push(`${pid}: ${cmd}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return { namespaces, links, processes, dir: existsSync(stateDir) };
}

export const NOTHING_LEFT = { namespaces: [], links: [], processes: [], dir: false };

/** A lab of `hosts` hosts in a temporary folder; `remove` takes it all away (call it in afterAll). */
export async function temporaryLab(hosts: number, prefix = 'doctor-test-', opts: { controller?: boolean; aliasesPerHost?: number } = {}): Promise<{ state: LabState; remove: () => Promise<void> }> {
  const stateDir = join(mkdtempSync(join(tmpdir(), prefix)), 'lab');
  const remove = async () => {
    await labDown({ stateDir });
    rmSync(dirname(stateDir), { recursive: true, force: true });
  };
  try {
    return { state: await labUp({ stateDir, labId: testLabId(), hosts, ...opts }), remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

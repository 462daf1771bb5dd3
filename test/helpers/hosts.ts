import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

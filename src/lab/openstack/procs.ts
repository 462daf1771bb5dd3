import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { childEnv } from '../../shared/index.js';

/** Every lab service carries this variable (su and daemonizing keep it): the handle that finds all its processes. */
export const LAB_TAG = 'DOCTOR_OPENSTACK_LAB';

/**
 * A service of the all-in-one lab: started detached (it outlives the CLI),
 * output to its own log file, tagged with the lab. Secrets go in `env`, never in `args`.
 */
export function startService(file: string, args: string[], opts: { log: string; tag: string; env?: NodeJS.ProcessEnv; cwd?: string; netns?: string }): number {
  const fd = openSync(opts.log, 'a', 0o600);
  try {
    // The service inherits the harmless part of this process's environment (PATH, locale) plus its own settings.
    // SPT_NOENV: Python services that retitle themselves (setproctitle) would otherwise overwrite their environment, tag included.
    const env = childEnv({ ...opts.env, SPT_NOENV: '1', [LAB_TAG]: opts.tag });
    // In a namespace host: `ip netns exec` enters it and execs the service (the PID is the service's).
    const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, file, ...args]] : [file, args];
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', fd, fd], env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${file}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export interface TaggedProcess {
  pid: number;
  pgid: number;
  cmd: string;
}

/** Live (non-zombie) processes whose environment carries the lab's tag, whoever their parent is now. */
export function taggedProcesses(tag: string): TaggedProcess[] {
  const needle = `\0${LAB_TAG}=${tag}\0`;
  const out: TaggedProcess[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!`\0${readFileSync(`/proc/${pid}/environ`, 'utf8')}`.includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // finished; PID 1 here may reap orphans late
      out.push({ pid: Number(pid), pgid: Number(fields[2]), cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      /* exited meanwhile, or not readable */
    }
  }
  return out;
}

/** Stops the tagged processes matching `match` (all when omitted): SIGTERM to them and their groups, SIGKILL after `graceMs`. */
export async function stopTagged(tag: string, match: (p: TaggedProcess) => boolean = () => true, graceMs = 10_000): Promise<void> {
  const targets = () => taggedProcesses(tag).filter(match);
  const signal = (sig: NodeJS.Signals) => {
    for (const p of targets()) {
      for (const id of [-p.pgid, p.pid]) {
        try {
          process.kill(id, sig);
        } catch {
          /* gone */
        }
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (targets().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (targets().length) signal('SIGKILL');
  while (targets().length && Date.now() < deadline + 3_000) await new Promise((r) => setTimeout(r, 100));
}

/** A process's proportional set size in KiB (its share of shared pages counted once over the sharers); 0 once gone. */
export function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

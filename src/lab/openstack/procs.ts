import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { pidAlive } from '../hosts/state.js';

/**
 * A service of the all-in-one lab: started detached in its own process group
 * (so it outlives the CLI and `down` can stop it and its workers together),
 * output to its own log file. Secrets go in `env`, never in `args`.
 */
export function startService(file: string, args: string[], opts: { log: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const fd = openSync(opts.log, 'a', 0o600);
  try {
    // The service inherits this process's environment (PATH, locale) plus its own settings: not config reading.
    // eslint-disable-next-line no-restricted-syntax
    const env = { ...process.env, ...opts.env };
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${file}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` still runs something whose command line mentions `marker` (a reused PID is not ours). */
export function isOurs(pid: number | undefined, marker: string): boolean {
  if (!pid || !pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(marker);
  } catch {
    return false;
  }
}

/** SIGTERM to the whole process group, SIGKILL after `graceMs`. */
export async function stopGroup(pid: number, graceMs = 5_000): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* group gone */
    }
  };
  // Whether the group leader still runs. A zombie has finished (this machine's PID 1 may never reap
  // an orphan), so it does not count.
  const alive = () => {
    try {
      return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) send('SIGKILL');
  while (alive() && Date.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 50));
}

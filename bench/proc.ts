/** What /proc says of a process, for the benches that measure one from outside. */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/PID/stat counts CPU in 1/100 s. */
const TICK_MS = 10;

/** User + system CPU so far, in ms (10 ms steps). */
export function cpuMs(pid: number): number {
  const { user, system } = cpuSplitMs(pid);
  return user + system;
}

/** User and system CPU so far, apart, in ms (10 ms steps). */
export function cpuSplitMs(pid: number): { user: number; system: number } {
  // The fields after the command (which may hold spaces and parentheses): utime is the 14th of the line, stime the 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * TICK_MS, system: Number(f[12]) * TICK_MS };
}

/** Resident set size now, in MiB. */
export function rssMiB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

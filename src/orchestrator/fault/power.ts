import { spawn } from 'node:child_process';
import { childEnv, ConfigError, preciseNow, processStart, runProcess, type Runner } from '../../shared/index.js';

/**
 * A power driver: the user's own command lines that power a host off and on (an ipmitool line,
 * a PDU's CLI), run on this machine. A powered-off host cannot put itself back, so the run does:
 * as soon as it is done with the host, and, should the run die, a timer of its own (a detached
 * `sleep; on` that outlives the run) or `doctor cleanup`, whichever comes first.
 */
export interface PowerDriver {
  off: string;
  on: string;
}

export interface PowerTarget {
  /** Nova's name for the host ({host}). */
  host: string;
  /** Its address ({ip}). */
  ip: string;
}

/** What a power command did: when it ran (harness clock), its exit status and the tail of what it printed. */
export interface PowerCall {
  command: 'off' | 'on';
  startedAt: number;
  endedAt: number;
  exitCode: number;
  output?: string;
}

const SAFE = /^[\w.:-]+$/;

/** The command line with {host} and {ip} put in (both checked: a name or address, nothing a shell would read). */
export function powerCommand(template: string, t: PowerTarget): string {
  for (const [what, value] of [['host', t.host], ['ip', t.ip]] as const) {
    if (!SAFE.test(value)) throw new ConfigError('--power-off-command', `the ${what} "${value}" has characters the power command line cannot take safely`);
  }
  return template.replaceAll('{host}', t.host).replaceAll('{ip}', t.ip);
}

/** Runs one power command line, `which` the driver's (sh -c, the harmless part of our environment, 60 s at most). */
export async function runPower(template: string, which: 'off' | 'on', t: PowerTarget, run: Runner = runProcess): Promise<PowerCall> {
  const startedAt = preciseNow();
  const r = await run('/bin/sh', ['-c', powerCommand(template, t)], { timeoutMs: 60_000 });
  const output = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-3).join(' | ');
  return { command: which, startedAt, endedAt: preciseNow(), exitCode: r.exitCode, ...(output ? { output } : {}) };
}

/**
 * Starts the timer that powers the host on after `seconds` even if this process dies: a detached
 * shell in a process group of its own (stopped as one when the run powers the host on itself).
 */
export function startPowerOnTimer(driver: PowerDriver, t: PowerTarget, seconds: number): { pid: number; processStart: string | undefined } {
  const child = spawn('/bin/sh', ['-c', `sleep ${Math.ceil(seconds)}; exec ${powerCommand(driver.on, t)}`], { detached: true, stdio: 'ignore', env: childEnv() });
  child.on('error', () => {
    /* an sh that cannot start: the run powers the host on itself */
  });
  child.unref();
  return { pid: child.pid!, processStart: processStart(child.pid!) };
}

/** Stops that timer (its whole group), if it is still that process. */
export function stopPowerOnTimer(timer: { pid: number; processStart?: string | undefined }): void {
  const now = processStart(timer.pid);
  if (now === undefined || (timer.processStart !== undefined && now !== timer.processStart)) return;
  try {
    process.kill(-timer.pid, 'SIGTERM');
  } catch {
    /* gone meanwhile */
  }
}

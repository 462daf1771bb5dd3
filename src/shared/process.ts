import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs a program without a shell and returns its result; never throws for a
 * non-zero exit (callers decide what a failure means). Secrets never go in
 * `args`: pass them through `input` or files.
 */
export type Runner = (file: string, args: string[], opts?: { input?: string; timeoutMs?: number; env?: Record<string, string> }) => Promise<RunResult>;

/** A word for a POSIX shell, single-quoted (a remote command over SSH). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** What a child may inherit from this process's environment: where programs are, the locale, the user. Never a secret. */
const INHERITED = /^(PATH|HOME|USER|LOGNAME|SHELL|TERM|TZ|TMPDIR|LANG|LANGUAGE|LC_[A-Z]+)$/;

/**
 * The environment a child process starts with: the harmless part of ours plus `extra`. A child never
 * inherits the rest (OS_PASSWORD, TEST_DB_URL with its password, DOCTOR_INSPECTOR_TOKEN…): anyone
 * who can read /proc/PID/environ of an `ip` or sshd would read them.
 */
export function childEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  // eslint-disable-next-line no-restricted-syntax -- the one place that passes an allowlisted part of it on
  const own = process.env;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(own)) if (v !== undefined && INHERITED.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export const runProcess: Runner = async (file, args, opts = {}) => {
  const r = await execa(file, args, {
    reject: false,
    stripFinalNewline: true,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    env: childEnv(opts.env),
    extendEnv: false,
  });
  if (r.failed && r.exitCode === undefined) {
    // Not started at all (ENOENT, EACCES) or killed by the timeout.
    return { stdout: String(r.stdout ?? ''), stderr: r.shortMessage ?? 'failed to start', exitCode: 127 };
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
};

/**
 * When a process started, as the kernel counts it (clock ticks since boot, field 22 of
 * /proc/PID/stat): with the PID it names one process for good, even after the PID is reused.
 */
export function processStart(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** A process's state in /proc/PID/stat: R, S, D, T (stopped), Z (exited, not yet reaped)…; undefined once it is gone. */
export function processState(pid: number): string | undefined {
  return statFields(pid)?.[0];
}

/** /proc/PID/stat from field 3 (the state) on. The command name (field 2) is in parentheses and may hold spaces: count from after it. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Stops a child we started: SIGTERM, SIGKILL after `graceMs` (3 s), and resolves once it has exited.
 * With `group`, the signals go to its process group (it was spawned `detached`), so what it started goes too.
 */
export async function stopProcess(child: ChildProcess, opts: { group?: boolean; graceMs?: number } = {}): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (opts.group) process.kill(-child.pid!, sig);
      else child.kill(sig);
    } catch {
      child.kill(sig); // the group is gone already: the child alone
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), opts.graceMs ?? 3_000);
  await gone;
  clearTimeout(timer);
}

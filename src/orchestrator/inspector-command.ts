import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { childEnv, freePort, HarnessError, type Logger, processStart, stopProcess, waitForPort } from '../shared/index.js';
import { credentialsEnv, type CloudCredentials } from '../openstack/index.js';

/** A user's own inspector (`--inspector-command`), started by the run as Doctor's harness starts its inspector. */
export interface InspectorCommand {
  url: string;
  pid: number;
  processStart: string | undefined;
  /** How it ended, once it did. */
  exit(): { code: number | null; signal: string | null } | undefined;
  /** SIGTERM, SIGKILL after 3 s; resolves once it is gone. */
  stop(): Promise<void>;
}

export interface InspectorCommandOptions {
  /** A shell command line; `{port}` becomes the port it must listen on. */
  command: string;
  host: string;
  /** 0: a free one. */
  port: number;
  /** Given to it as OS_* variables (an openrc's), never on its command line. */
  credentials: CloudCredentials;
  logger: Logger;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Starts the command with `/bin/sh -c` in a process group of its own, with only the harmless part of our environment plus the cloud's
 * OS_* variables, and waits until something accepts connections on host:port. Its output goes to the
 * run's log (component inspector-command). Refuses when it exits first or is not listening in time,
 * saying what it printed last.
 */
export async function startInspectorCommand(opts: InspectorCommandOptions): Promise<InspectorCommand> {
  const port = opts.port || (await freePort(opts.host));
  const line = opts.command.replaceAll('{port}', String(port));
  const child = spawn('/bin/sh', ['-c', line], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(credentialsEnv(opts.credentials)), detached: true });
  let ended: { code: number | null; signal: string | null } | undefined;
  child.once('exit', (code, signal) => {
    ended = { code, signal };
  });
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });
  const tail: string[] = [];
  const log = opts.logger.child({ component: 'inspector-command' });
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('error', () => {
      /* its exit says why */
    });
    createInterface({ input: stream }).on('line', (l) => {
      tail.push(l);
      if (tail.length > 20) tail.shift();
      log.info({ line: l }, 'inspector output');
    });
  }
  const printed = () => tail.slice(-5).join(' | ') || '(nothing)';
  const stop = () => stopProcess(child, { group: true }); // its own group (detached): the shell and whatever it started go together
  try {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (;;) {
      opts.signal?.throwIfAborted();
      if (spawnError) throw new HarnessError(`--inspector-command could not be started: ${spawnError.message}`);
      if (ended) {
        throw new HarnessError(`--inspector-command exited (${ended.code !== null ? `status ${ended.code}` : ended.signal}) before listening on ${opts.host}:${port}; it printed: ${printed()}`);
      }
      if (await waitForPort(opts.host, port, Math.min(deadline, Date.now() + 100))) break;
      if (Date.now() > deadline) {
        throw new HarnessError(`--inspector-command was not listening on ${opts.host}:${port} within ${(opts.readyTimeoutMs ?? 30_000) / 1000} s (does it take the port from {port}?); it printed: ${printed()}`);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  log.info({ pid: child.pid, port }, 'inspector command listening');
  return { url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`, pid: child.pid!, processStart: processStart(child.pid!), exit: () => ended, stop };
}

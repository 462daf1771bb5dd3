import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/shared/index.js';
import { OpenStackClient, type SessionOptions } from '../../src/openstack/index.js';
import { startCloud, type LabCloud, type StartCloudOptions } from '../../src/lab/index.js';

/** A logger whose lines are kept in memory, to assert on what reaches the logs. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

export async function withCloud(opts: StartCloudOptions = {}): Promise<LabCloud> {
  return startCloud({ buildDelayMs: 5, ...opts });
}

export function clientFor(lab: LabCloud, opts: Partial<SessionOptions> = {}): OpenStackClient {
  return OpenStackClient.create({ credentials: lab.credentials(), sleep: async () => {}, ...opts });
}

/** Polls `fn` until it returns a value, within a deadline (no fixed sleeps). */
export async function eventually<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000, what: string | (() => string) = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

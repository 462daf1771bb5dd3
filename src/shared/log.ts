import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths pino blanks in every log line. Components never log credentials on
 * purpose; this is the net under that rule.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'hmacKey',
  '*.hmacKey',
  'headers["x-auth-token"]',
  'headers["X-Auth-Token"]',
  'headers["x-subject-token"]',
  'headers["X-Subject-Token"]',
  'headers.authorization',
  'headers.Authorization',
  '*.headers["x-auth-token"]',
  '*.headers["X-Auth-Token"]',
];

export interface LoggerOptions {
  level?: string;
  component?: string;
  runId?: string;
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base: Record<string, string> = {};
  if (opts.component) base['component'] = opts.component;
  if (opts.runId) base['runId'] = opts.runId;
  const options = {
    level: opts.level ?? 'info',
    base,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything: the default for library code and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

import { ConfigError, type Logger } from '../shared/index.js';
import type { CloudCredentials } from './credentials.js';
import { newTraceId } from './osprofiler.js';
import { OpenStackClient } from './client.js';
import type { SessionOptions } from './session.js';

export interface ClientConfig {
  /** From loadCredentials: a CA bundle they name is already read (`ca`). */
  credentials: CloudCredentials;
  logger?: Logger;
  /** The run's trace id; a new one when OSProfiler is on and none is given. */
  traceId?: string;
  timeoutMs?: number;
  computeMicroversion?: string;
}

/** A client from loaded credentials: trusts their CA bundle and turns OSProfiler on when a key is set. */
export function createOpenStackClient(cfg: ClientConfig): OpenStackClient {
  const { credentials } = cfg;
  const opts: SessionOptions = { credentials };
  if (credentials.cacert && credentials.ca === undefined) {
    throw new ConfigError('OS_CACERT', `the CA bundle ${credentials.cacert} (from ${credentials.source}) was not read: load the credentials with loadCredentials`);
  }
  if (credentials.ca !== undefined) opts.ca = credentials.ca;
  if (credentials.profileKey) opts.profiler = { hmacKey: credentials.profileKey, traceId: cfg.traceId ?? newTraceId() };
  if (cfg.logger) opts.logger = cfg.logger;
  if (cfg.timeoutMs !== undefined) opts.timeoutMs = cfg.timeoutMs;
  if (cfg.computeMicroversion) opts.computeMicroversion = cfg.computeMicroversion;
  return OpenStackClient.create(opts);
}

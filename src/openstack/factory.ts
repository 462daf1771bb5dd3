import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { CloudCredentials } from './credentials.js';
import { newTraceId } from './osprofiler.js';
import { OpenStackClient } from './client.js';
import type { SessionOptions } from './session.js';

export interface ClientConfig {
  credentials: CloudCredentials;
  /** Reads the CA bundle; undefined when the file cannot be read. */
  readFile: (path: string) => Buffer | undefined;
  logger?: Logger;
  /** The run's trace id; a new one when OSProfiler is on and none is given. */
  traceId?: string;
  timeoutMs?: number;
  computeMicroversion?: string;
}

/** A client from loaded credentials: reads the CA bundle and turns OSProfiler on when a key is set. */
export function createOpenStackClient(cfg: ClientConfig): OpenStackClient {
  const { credentials } = cfg;
  const opts: SessionOptions = { credentials };
  if (credentials.cacert) {
    const ca = cfg.readFile(credentials.cacert);
    if (!ca) {
      throw new ConfigError('OS_CACERT', `cannot read the CA bundle ${credentials.cacert} (from ${credentials.source}); fix the path or its permissions`);
    }
    opts.ca = ca;
  }
  if (credentials.profileKey) opts.profiler = { hmacKey: credentials.profileKey, traceId: cfg.traceId ?? newTraceId() };
  if (cfg.logger) opts.logger = cfg.logger;
  if (cfg.timeoutMs !== undefined) opts.timeoutMs = cfg.timeoutMs;
  if (cfg.computeMicroversion) opts.computeMicroversion = cfg.computeMicroversion;
  return OpenStackClient.create(opts);
}

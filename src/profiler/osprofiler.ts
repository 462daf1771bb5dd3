import { HarnessError, type Runner } from '../shared/index.js';
import { parseUtc } from './checkpoints.js';

/** One span of an OSProfiler trace, with absolute instants (epoch ms, the cloud's clock). */
export interface TraceSpan {
  name: string;
  service?: string;
  project?: string;
  host?: string;
  startedAt?: number;
  finishedAt?: number;
  method?: string;
  path?: string;
}

interface Node {
  info?: Record<string, unknown>;
  children?: Node[];
}

/** Every span of a `osprofiler trace show --json` report, depth first. */
export function spansOf(report: unknown): TraceSpan[] {
  const out: TraceSpan[] = [];
  const walk = (n: Node) => {
    const info = n.info ?? {};
    const raw = (kind: 'start' | 'stop') => {
      const key = Object.keys(info).find((k) => k.startsWith('meta.raw_payload.') && k.endsWith(`-${kind}`));
      return key ? (info[key] as { timestamp?: string; info?: { request?: { path?: string; method?: string } } } | undefined) : undefined;
    };
    const start = raw('start');
    const stop = raw('stop');
    if (typeof info['name'] === 'string') {
      const startedAt = start?.timestamp ? parseUtc(start.timestamp) : undefined;
      const finishedAt = stop?.timestamp ? parseUtc(stop.timestamp) : undefined;
      const req = start?.info?.request;
      out.push({
        name: info['name'] as string,
        ...(typeof info['service'] === 'string' ? { service: info['service'] } : {}),
        ...(typeof info['project'] === 'string' ? { project: info['project'] } : {}),
        ...(typeof info['host'] === 'string' ? { host: info['host'] } : {}),
        ...(startedAt !== undefined ? { startedAt } : {}),
        ...(finishedAt !== undefined ? { finishedAt } : {}),
        ...(req?.method ? { method: req.method } : {}),
        ...(req?.path ? { path: req.path } : {}),
      });
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(report as Node);
  return out;
}

/**
 * Fetches a trace with the `osprofiler` command (python3-osprofiler): the
 * connection string goes through its environment variable, not the command line.
 */
export async function fetchTrace(traceId: string, connection: string, run: Runner): Promise<TraceSpan[]> {
  const r = await run('osprofiler', ['trace', 'show', '--json', traceId], { env: { OSPROFILER_CONNECTION_STRING: connection }, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new HarnessError(`osprofiler trace show failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new HarnessError(`osprofiler trace show printed no JSON: ${r.stdout.slice(0, 200)}`);
  }
  return spansOf(doc);
}

/** The nova-api request that reset `vmId` (POST …/servers/<id>/action, the WSGI span). */
export function resetSpan(spans: TraceSpan[], vmId: string): TraceSpan | undefined {
  return spans.find((s) => s.name === 'wsgi' && s.method === 'POST' && (s.path ?? '').endsWith(`/servers/${vmId}/action`));
}

import { randomUUID } from 'node:crypto';
import { ConfigError, type Logger, realSleep, silentLogger, type Sleep } from '../shared/index.js';

export type EventShape = 'doctor' | 'vitrage';

export interface ReporterOptions {
  /** Inspector base URL (http://127.0.0.1:12345) or the full endpoint. */
  url: string;
  shape?: EventShape;
  /** Sent as `Authorization: Bearer …` when the inspector is protected. */
  token?: string;
  monitorName?: string;
  /** Give up after this long (retries included). */
  deadlineMs?: number;
  timeoutMs?: number;
  sleep?: Sleep;
  logger?: Logger;
}

export interface ReportResult {
  ok: boolean;
  status?: number;
  attempts: number;
  /** When the first attempt was sent / the final answer came. */
  sentAt: number;
  answeredAt: number;
  error?: string;
}

/** The Doctor sample inspector's event (a list at PUT /events) or Vitrage's (one object at POST /v1/event). */
export function hostDownEvent(hostname: string, detectedAt: number, monitor: string, eventId: string, extra: Record<string, unknown> = {}) {
  return {
    time: new Date(detectedAt).toISOString(),
    type: 'compute.host.down',
    details: { ...extra, hostname, status: 'down', monitor, monitor_event_id: eventId },
  };
}

export function endpointFor(url: string, shape: EventShape): { method: 'PUT' | 'POST'; url: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    u = new URL('invalid:');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError('inspector', `"${url}" is not an http(s) URL; give the inspector's address, e.g. http://127.0.0.1:12345`);
  }
  const bare = u.pathname === '/' || u.pathname === '';
  if (shape === 'vitrage') return { method: 'POST', url: bare ? new URL('/v1/event', u).href : u.href };
  return { method: 'PUT', url: bare ? new URL('/events', u).href : u.href };
}

/** One host-down to report. */
export interface HostDownReport {
  hostname: string;
  detectedAt: number;
  eventId?: string;
  details?: Record<string, unknown>;
}

/** Reports host-down events to the inspector, retrying connection errors and 5xx with capped backoff. */
export class InspectorReporter {
  private readonly log: Logger;
  private readonly sleep: Sleep;
  private seq = 0;

  constructor(private readonly opts: ReporterOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'monitor-reporter' });
    this.sleep = opts.sleep ?? realSleep;
    endpointFor(opts.url, opts.shape ?? 'doctor'); // validates the URL now, not at the first failure
  }

  /** Opens the connection ahead of the first report (GET /health), so the report does not pay for it. */
  async warm(): Promise<void> {
    const base = new URL(endpointFor(this.opts.url, this.opts.shape ?? 'doctor').url);
    await fetch(new URL('/health', base), { signal: AbortSignal.timeout(2_000) }).then((r) => r.arrayBuffer()).catch(() => undefined);
  }

  /** `eventId` and `details` (e.g. a fleet's agents that saw it) go into the event's details. */
  report(hostname: string, detectedAt: number, more: { eventId?: string; details?: Record<string, unknown> } = {}): Promise<ReportResult> {
    return this.reportMany([{ hostname, detectedAt, ...more }]);
  }

  /**
   * Several host-downs in one request where the inspector takes a list (Doctor's PUT /events); Vitrage's
   * POST /v1/event takes one event, so there each goes in a request of its own (the result: the worst).
   */
  async reportMany(items: HostDownReport[]): Promise<ReportResult> {
    const shape = this.opts.shape ?? 'doctor';
    const monitor = this.opts.monitorName ?? 'doctor_harness_monitor';
    const events = items.map((i) => hostDownEvent(i.hostname, i.detectedAt, monitor, i.eventId ?? `${monitor}_${++this.seq}_${randomUUID()}`, i.details));
    if (shape === 'doctor') return this.send(JSON.stringify(events), items.map((i) => i.hostname).join(', '));
    const results = await Promise.all(events.map((e, i) => this.send(JSON.stringify(e), items[i]!.hostname)));
    return results.find((r) => !r.ok) ?? results[0]!;
  }

  private async send(body: string, hostname: string): Promise<ReportResult> {
    const shape = this.opts.shape ?? 'doctor';
    const { method, url } = endpointFor(this.opts.url, shape);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (this.opts.token) headers['Authorization'] = `Bearer ${this.opts.token}`;
    const deadline = Date.now() + (this.opts.deadlineMs ?? 10_000);
    const sentAt = Date.now();
    let attempts = 0;
    let last: { status?: number; error?: string };
    for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
      attempts += 1;
      try {
        const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000) });
        await res.arrayBuffer();
        if (res.ok) return { ok: true, status: res.status, attempts, sentAt, answeredAt: Date.now() };
        last = { status: res.status, error: `${method} ${url} answered ${res.status}` };
        if (res.status < 500 && res.status !== 429) break;
      } catch (err) {
        last = { error: `${method} ${url} failed: ${(err as Error).message}` };
      }
      if (Date.now() + delay > deadline) break;
      this.log.warn({ host: hostname, attempt: attempts, ...last }, 'inspector report failed, retrying');
      await this.sleep(delay);
    }
    this.log.error({ host: hostname, attempts, ...last }, 'inspector report failed');
    return { ok: false, attempts, sentAt, answeredAt: Date.now(), ...last };
  }
}

/**
 * Host-downs reported within `windowMs` of the first one waiting go in one request (a rack failing at
 * once is one PUT /events, not hundreds of requests, each a connection and a turn of both event loops);
 * each caller gets that request's result. At most `max` events in one request.
 */
export function batchedReports(reporter: Pick<InspectorReporter, 'reportMany'>, windowMs = 2, max = 500): (item: HostDownReport) => Promise<ReportResult> {
  let queue: Array<{ item: HostDownReport; done: (r: ReportResult) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const q = queue;
    queue = [];
    const now = Date.now();
    reporter.reportMany(q.map((x) => x.item))
      .catch((err: Error): ReportResult => ({ ok: false, attempts: 0, sentAt: now, answeredAt: Date.now(), error: err.message }))
      .then((r) => q.forEach((x) => x.done(r)), () => undefined);
  };
  return (item) => new Promise<ReportResult>((done) => {
    queue.push({ item, done });
    if (queue.length >= max) flush();
    else timer ??= setTimeout(flush, windowMs);
  });
}

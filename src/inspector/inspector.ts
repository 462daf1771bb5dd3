import { AdaptiveLimit, type Clock, type Logger, mapAdaptive, OpenStackHttpError, preciseNow, silentLogger } from '../shared/index.js';
import type { ComputeClient, Server } from '../openstack/index.js';
import type { ShortcutSend, ShortcutVm } from './shortcut.js';

export interface InspectorOptions {
  /** cache: VMs per host from a cache refreshed on a miss and after `cacheTtlMs`; event: list at event time. */
  vmLookup?: 'cache' | 'event';
  cacheTtlMs?: number;
  /**
   * Reset-state calls in flight at once: a fixed number, or adaptive (the default): from 16 (the fixed number it replaced), sized so a
   * few calls wait in Nova's queue (its workers never idle, calls never pile up), half on a 429/503, up to 64.
   */
  concurrency?: number | 'adaptive';
  /**
   * With OSProfiler on in the client: how many reset-state calls carry its trace headers, spread over the
   * host's list in the order they are sent (one: the last; two or more: the first and the last among them),
   * or all of them (the default). A traced call costs the cloud its spans: nova-api served a traced reset in
   * about 25 ms more on the all-in-one lab, which delays every later notification.
   */
  traceResets?: number | 'all';
  /** Doctor's shortcut: also publish each VM's compute.instance.update (state error) on the message bus. */
  shortcut?: { publish(vms: ShortcutVm[]): Promise<ShortcutSend[]> };
  now?: Clock;
  logger?: Logger;
}

export interface VmAction {
  id: string;
  name: string;
  /** 4 (set VM error): when the reset-state call went out. */
  resetRequestedAt?: number;
  /** When Nova answered it. */
  resetAt?: number;
  error?: string;
  /** false: its reset-state went out without OSProfiler headers (traceResets). */
  traced?: boolean;
  /** The shortcut's message for this VM: its unique id and when it was published. */
  shortcut?: { uniqueId: string; sentAt?: number; error?: string };
}

/** What the inspector did for one host, with the profiler's checkpoints (DESIGN.md §5: 2, 3, 4). */
export interface HostHandling {
  host: string;
  eventTime: string;
  monitor?: string;
  receivedAt: number;
  /** 2: the VMs on the host are known. */
  foundAffectedAt?: number;
  /** 3: nova-compute forced down. */
  markedDownAt?: number;
  /** 4: first and last VM reset to error. */
  vmErrorFirstAt?: number;
  vmErrorLastAt?: number;
  forceDownPath?: string;
  vms: VmAction[];
  errors: string[];
  doneAt?: number;
  /** Reset-state calls in flight: the fixed number, or the adaptive limit at the start, its peak and at the end. */
  concurrency?: { mode: 'fixed'; limit: number } | { mode: 'adaptive'; start: number; peak: number; end: number; bestMs?: number };
}

export const ADAPTIVE_CONCURRENCY = { initial: 16, min: 1, max: 64 } as const;
/** `--concurrency N`: N in flight, never more nor fewer. */
const fixed = (n: number) => ({ initial: n, min: n, max: n });

/**
 * A reset-state the API pushed back (429 Too Many Requests, 503 Service Unavailable: a rate limiter or
 * a proxy with no free worker) was not served: it is sent again, after a jittered 50, 100, 200, 400 ms.
 * The inspector does that, not the session, so the adaptive limit sees the push-back (and halves) instead
 * of one slow call; calls that did not reach the API (connection refused, reset) the session retries.
 */
const RESET_RETRY = { attempts: 4, delayMs: (attempt: number) => Math.round(25 * 2 ** attempt * (0.8 + 0.4 * Math.random())) };
const isPushBack = (err: unknown) => err instanceof OpenStackHttpError && (err.status === 429 || err.status === 503);

/**
 * Which of `m` calls (by send order) carry trace headers when `n` may: n spread evenly, the last always
 * among them (it is the likeliest to be the slowest VM's); undefined when every one may.
 */
export function tracedIndexes(m: number, n: number | 'all'): Set<number> | undefined {
  if (n === 'all' || n >= m) return undefined;
  if (n <= 0) return new Set();
  if (n === 1) return new Set([m - 1]);
  return new Set(Array.from({ length: n }, (_, i) => Math.round((i * (m - 1)) / (n - 1))));
}

/** How many monitor event ids are remembered to recognise a repeat (a monitor's retry). */
const EVENT_IDS_KEPT = 1_000;

/**
 * The sample inspector's logic: on compute.host.down, force the host's nova-compute
 * service down first (its id is known before any event), then reset every VM on it
 * to error. Only repeats of the same failure are deduplicated: an event for a host
 * whose handling is in flight, or one with a monitor_event_id already handled. A new
 * failure after the host recovered is handled again, as Doctor's inspector does.
 */
export class Inspector {
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly history: HostHandling[] = [];
  private readonly inFlight = new Map<string, Promise<HostHandling>>();
  private readonly byEventId = new Map<string, Promise<HostHandling>>();
  private readonly serviceIds = new Map<string, string | number>();
  private cache: { at: number; byHost: Map<string, Server[]> } | undefined;

  constructor(
    private readonly compute: ComputeClient,
    private readonly opts: InspectorOptions = {},
  ) {
    this.now = opts.now ?? preciseNow;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'inspector' });
    this.concurrency = opts.concurrency ?? 'adaptive';
    // Adaptive: learned across events (the API's best latency and what it serves carry over).
    this.limit = new AdaptiveLimit(this.concurrency === 'adaptive' ? ADAPTIVE_CONCURRENCY : fixed(this.concurrency));
  }

  private readonly concurrency: number | 'adaptive';
  private readonly limit: AdaptiveLimit;

  /**
   * Before any event: the nova-compute service of every host (so force-down is one request,
   * not a lookup queued behind the resets) and, in cache mode, the VMs on each host.
   */
  async prime(): Promise<void> {
    const [services, servers] = await Promise.all([
      this.compute.services.list({ binary: 'nova-compute' }),
      this.opts.vmLookup === 'event' ? Promise.resolve(undefined) : this.compute.servers.listDetail({ allTenants: true }),
    ]);
    for (const svc of services) this.serviceIds.set(svc.host, svc.id);
    if (!servers) return;
    const byHost = new Map<string, Server[]>();
    for (const s of servers) if (s.host) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
    this.cache = { at: this.now(), byHost };
  }

  /** The VMs on `host` from the cache while it is fresh; from Nova otherwise (and the cache learns them). */
  private async vmsOn(host: string): Promise<{ vms: Server[]; fromCache: boolean }> {
    const ttl = this.opts.cacheTtlMs ?? 30_000;
    const cached = this.cache?.byHost.get(host);
    if (this.opts.vmLookup !== 'event' && cached && this.now() - this.cache!.at < ttl) return { vms: cached, fromCache: true };
    const fresh = await this.compute.servers.listDetail({ allTenants: true, host });
    this.cache?.byHost.set(host, fresh);
    return { vms: fresh, fromCache: false };
  }

  /** `arrivedAt`: when the event's request reached the inspector (before it was parsed); now if not given. */
  onHostDown(host: string, event: { time: string; monitor?: string; eventId?: string; arrivedAt?: number }): Promise<HostHandling> {
    // An event id names one failure of one host as one monitor saw it.
    const key = event.eventId !== undefined ? JSON.stringify([event.monitor ?? '', host, event.eventId]) : undefined;
    const repeat = (key !== undefined ? this.byEventId.get(key) : undefined) ?? this.inFlight.get(host);
    if (repeat) {
      this.log.info({ host, eventId: event.eventId }, 'repeated host-down event: the same failure is already being (or was) handled');
      return repeat;
    }
    const record: HostHandling = { host, eventTime: event.time, receivedAt: event.arrivedAt ?? this.now(), vms: [], errors: [], ...(event.monitor ? { monitor: event.monitor } : {}) };
    this.history.push(record);
    const done = this.handle(record).finally(() => this.inFlight.delete(host));
    this.inFlight.set(host, done);
    if (key !== undefined) {
      this.byEventId.set(key, done);
      if (this.byEventId.size > EVENT_IDS_KEPT) this.byEventId.delete(this.byEventId.keys().next().value!);
    }
    return done;
  }

  private async handle(r: HostHandling): Promise<HostHandling> {
    // 3 first: the request leaves before any reset (the point of the force-down blueprint).
    const forced = this.compute.services.forceDown(r.host, true, this.serviceIdOpt(r.host)).then(
      (res) => {
        r.markedDownAt = this.now();
        r.forceDownPath = res.path;
      },
      (err: Error) => void r.errors.push(`forcing nova-compute on ${r.host} down failed: ${err.message}`),
    );
    let found: { vms: Server[]; fromCache: boolean } = { vms: [], fromCache: false };
    try {
      found = await this.vmsOn(r.host);
    } catch (err) {
      r.errors.push(`listing the VMs on ${r.host} failed: ${(err as Error).message}`);
    }
    r.foundAffectedAt = this.now();
    this.log.info({ host: r.host, vms: found.vms.length, fromCache: found.fromCache }, 'host down: forcing nova-compute down and resetting its VMs');
    // The shortcut's messages leave alongside the resets (Doctor ran them as threads side by side).
    const published = this.publish(r, found.vms);
    await this.reset(r, found.vms);
    await published;
    if (found.fromCache) {
      // The cache may predate a VM booted onto this host since: Nova's own list decides, and any VM
      // the cache did not know is reset too (after the others, so the common case pays nothing).
      // The light list (ids only): the detailed one would cost Nova several times more while the last
      // notifications are on their way; only VMs the cache did not know are then read in detail.
      try {
        const now = await this.compute.servers.list({ allTenants: true, host: r.host });
        const known = new Set(found.vms.map((v) => v.id));
        const lateIds = new Set(now.filter((v) => !known.has(v.id)).map((v) => v.id));
        const late = lateIds.size ? (await this.compute.servers.listDetail({ allTenants: true, host: r.host })).filter((v) => lateIds.has(v.id)) : [];
        const still = new Set(now.map((v) => v.id));
        this.cache?.byHost.set(r.host, [...found.vms.filter((v) => still.has(v.id)), ...late]);
        if (late.length) {
          this.log.info({ host: r.host, vms: late.map((v) => v.id) }, 'VMs the cache did not know: resetting them too');
          await Promise.all([this.publish(r, late), this.reset(r, late)]);
        }
      } catch (err) {
        r.errors.push(`checking the VMs on ${r.host} against Nova failed: ${(err as Error).message}`);
      }
    }
    await forced;
    r.doneAt = this.now();
    if (r.errors.length) this.log.error({ host: r.host, errors: r.errors }, 'host handled with errors');
    return r;
  }

  private async reset(r: HostHandling, vms: Server[]): Promise<void> {
    const actions = vms.map((v): VmAction => ({ id: v.id, name: v.name }));
    r.vms.push(...actions);
    const traced = tracedIndexes(actions.length, this.opts.traceResets ?? 'all');
    if (traced) actions.forEach((vm, i) => (vm.traced = traced.has(i)));
    const start = this.limit.current;
    this.limit.resetPeak();
    const outcomes = await mapAdaptive(actions, this.limit, async (vm) => {
      vm.resetRequestedAt = this.now();
      await this.compute.servers.resetState(vm.id, 'error', { pushBack: 'caller', ...(vm.traced === false ? { trace: false } : {}) });
      vm.resetAt = this.now();
      r.vmErrorFirstAt ??= vm.resetAt;
      r.vmErrorLastAt = vm.resetAt;
    }, { now: this.now, pushedBack: isPushBack, retry: RESET_RETRY });
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') return;
      const vm = actions[i]!;
      vm.error = (o.reason as Error).message;
      r.errors.push(`resetting ${vm.name} (${vm.id}) to error failed: ${vm.error}`);
    });
    const c = this.concurrency;
    r.concurrency = c === 'adaptive'
      ? { mode: 'adaptive', start, peak: this.limit.peak, end: this.limit.current, ...(this.limit.bestMs !== undefined ? { bestMs: Math.round(this.limit.bestMs * 10) / 10 } : {}) }
      : { mode: 'fixed', limit: c };
  }

  private async publish(r: HostHandling, vms: Server[]): Promise<void> {
    if (!this.opts.shortcut || !vms.length) return;
    let sends: ShortcutSend[];
    try {
      sends = await this.opts.shortcut.publish(vms.map((v) => ({ id: v.id, ...(v.projectId ? { projectId: v.projectId } : {}) })));
    } catch (err) {
      sends = vms.map((v) => ({ vmId: v.id, uniqueId: '', error: (err as Error).message }));
    }
    const byId = new Map(sends.map((s) => [s.vmId, s]));
    for (const vm of r.vms) {
      const s = byId.get(vm.id);
      if (!s) continue;
      vm.shortcut = { uniqueId: s.uniqueId, ...(s.sentAt !== undefined ? { sentAt: s.sentAt } : {}), ...(s.error ? { error: s.error } : {}) };
      if (s.error) r.errors.push(`publishing ${vm.name}'s compute.instance.update on the message bus failed: ${s.error}`);
    }
  }

  private serviceIdOpt(host: string): { serviceId?: string | number } {
    const id = this.serviceIds.get(host);
    return id === undefined ? {} : { serviceId: id };
  }

  /** Every handling, oldest first (a host that failed twice appears twice). */
  records(): HostHandling[] {
    return [...this.history];
  }

  /** Clears force-down on every host this inspector forced down (Doctor's inspector does the same on stop). */
  async stop(): Promise<string[]> {
    const errors: string[] = [];
    await Promise.all([...this.inFlight.values()].map((p) => p.catch(() => undefined)));
    // Every host some handling forced down (a host handled twice is cleared once).
    for (const host of new Set(this.history.filter((h) => h.markedDownAt !== undefined).map((h) => h.host))) {
      try {
        await this.compute.services.forceDown(host, false, this.serviceIdOpt(host));
      } catch (err) {
        errors.push(`clearing force-down on ${host} failed: ${(err as Error).message}`);
      }
    }
    return errors;
  }
}

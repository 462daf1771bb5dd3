import { preciseNow, type Clock } from '../shared/clock.js';
import { mapLimit } from '../shared/listen.js';
import { silentLogger, type Logger } from '../shared/log.js';
import type { ComputeClient, Server } from '../openstack/index.js';

export interface InspectorOptions {
  /** cache: VMs per host from a cache refreshed on a miss and after `cacheTtlMs`; event: list at event time. */
  vmLookup?: 'cache' | 'event';
  cacheTtlMs?: number;
  /** Reset-state calls in flight at once. */
  concurrency?: number;
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
}

/**
 * The sample inspector's logic: on compute.host.down, find the host's VMs, then
 * concurrently force its nova-compute service down and reset every VM to error.
 * A repeated event for a host being (or already) handled does not redo the work.
 */
export class Inspector {
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly handled = new Map<string, { record: HostHandling; done: Promise<HostHandling> }>();
  private cache: { at: number; byHost: Map<string, Server[]> } | undefined;

  constructor(
    private readonly compute: ComputeClient,
    private readonly opts: InspectorOptions = {},
  ) {
    this.now = opts.now ?? preciseNow;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'inspector' });
  }

  /** Fills the VM cache now, so the first event does not pay for it. */
  async prime(): Promise<void> {
    const servers = await this.compute.servers.listDetail({ allTenants: true });
    const byHost = new Map<string, Server[]>();
    for (const s of servers) if (s.host) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
    this.cache = { at: this.now(), byHost };
  }

  private async vmsOn(host: string): Promise<Server[]> {
    const ttl = this.opts.cacheTtlMs ?? 30_000;
    const cached = this.cache?.byHost.get(host);
    if (this.opts.vmLookup !== 'event' && cached && this.now() - this.cache!.at < ttl) return cached;
    const fresh = await this.compute.servers.listDetail({ allTenants: true, host });
    if (this.cache) this.cache.byHost.set(host, fresh);
    return fresh;
  }

  onHostDown(host: string, event: { time: string; monitor?: string }): Promise<HostHandling> {
    const existing = this.handled.get(host);
    if (existing) {
      this.log.info({ host }, 'repeated host-down event: already handled');
      return existing.done;
    }
    const record: HostHandling = { host, eventTime: event.time, receivedAt: this.now(), vms: [], errors: [], ...(event.monitor ? { monitor: event.monitor } : {}) };
    const done = this.handle(record);
    this.handled.set(host, { record, done });
    return done;
  }

  private async handle(r: HostHandling): Promise<HostHandling> {
    let vms: Server[] = [];
    try {
      vms = await this.vmsOn(r.host);
    } catch (err) {
      r.errors.push(`listing the VMs on ${r.host} failed: ${(err as Error).message}`);
    }
    r.foundAffectedAt = this.now();
    r.vms = vms.map((v) => ({ id: v.id, name: v.name }));
    this.log.info({ host: r.host, vms: vms.length }, 'host down: forcing nova-compute down and resetting its VMs');
    await Promise.all([
      this.compute.services.forceDown(r.host, true).then(
        (res) => {
          r.markedDownAt = this.now();
          r.forceDownPath = res.path;
        },
        (err: Error) => void r.errors.push(`forcing nova-compute on ${r.host} down failed: ${err.message}`),
      ),
      mapLimit(r.vms, this.opts.concurrency ?? 16, async (vm) => {
        try {
          vm.resetRequestedAt = this.now();
          await this.compute.servers.resetState(vm.id, 'error');
          vm.resetAt = this.now();
          r.vmErrorFirstAt ??= vm.resetAt;
          r.vmErrorLastAt = vm.resetAt;
        } catch (err) {
          vm.error = (err as Error).message;
          r.errors.push(`resetting ${vm.name} (${vm.id}) to error failed: ${vm.error}`);
        }
      }),
    ]);
    r.doneAt = this.now();
    if (r.errors.length) this.log.error({ host: r.host, errors: r.errors }, 'host handled with errors');
    return r;
  }

  records(): HostHandling[] {
    return [...this.handled.values()].map((h) => h.record);
  }

  /** Clears force-down on every host this inspector forced down (Doctor's inspector does the same on stop). */
  async stop(): Promise<string[]> {
    const errors: string[] = [];
    for (const { record, done } of this.handled.values()) {
      await done.catch(() => undefined);
      if (record.markedDownAt === undefined) continue;
      try {
        await this.compute.services.forceDown(record.host, false);
      } catch (err) {
        errors.push(`clearing force-down on ${record.host} failed: ${(err as Error).message}`);
      }
    }
    return errors;
  }
}

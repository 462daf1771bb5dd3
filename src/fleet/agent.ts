import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Lease, Watcher } from 'etcd3';
import { HarnessError, type Logger, silentLogger } from '../shared/index.js';
import type { HostDownEvent, HostUpEvent, Monitor, MonitoredHost } from '../monitor/index.js';
import { HashRing } from './ring.js';
import type { DownRecord, FleetStore, MemberRecord } from './store.js';

export interface FleetAgentOptions {
  store: FleetStore;
  /** The monitor that probes this agent's share; the agent sets its hosts. Created with none. */
  monitor: Monitor;
  agentId: string;
  /** Lease TTL: an agent that stops heart-beating leaves the group this long after. */
  ttlS: number;
  /** Owners per host; with more than one, a majority of them must see it down. */
  replicas: number;
  /** Every compute host of the cloud (all agents must read the same list), asked again every refreshMs. */
  hosts: () => Promise<MonitoredHost[]>;
  refreshMs: number;
  /**
   * This agent's own network (its gateway, a peer): while none of them answers, the agent does not vote,
   * since every host would look down to it. Empty: no self-check.
   */
  selfCheck: MonitoredHost[];
  /** Tells the inspector; resolves once it answered (or gave up). */
  report: (record: DownRecord) => Promise<void>;
  logger?: Logger;
}

export interface Assignment {
  members: string[];
  hosts: string[];
  added: string[];
  removed: string[];
}

type Events = {
  assignment: [Assignment];
  /** A failure this agent committed (or, with etcd gone, reported on its own). */
  down: [DownRecord];
  /** This agent saw a host down but did not raise it: already committed, no majority yet, or itself cut off. */
  held: [{ host: string; why: 'committed' | 'no-majority' | 'own-network'; voters?: string[] }];
  etcd: [{ state: 'lost' | 'joined'; error?: string }];
};

const SELF = 'self:';

/** Votes that raise a failure among `owners` owners. */
const majority = (owners: number) => Math.floor(owners / 2) + 1;

/** Another live agent holds this agent's id: the fleet would split its hosts wrongly. */
export class FleetIdTaken extends HarnessError {
  constructor(readonly agentId: string) {
    super(`another agent of this fleet is already called "${agentId}" and kept its lease past the TTL; give each agent its own --agent-id`);
    this.name = 'FleetIdTaken';
  }
}

/**
 * One agent of a monitor fleet. It joins the group with a lease, watches who else is in it, and probes
 * the hosts that tooz's hash ring gives it; a host-down is committed once in etcd (a transaction on
 * down/<host>) and only the committing agent tells the inspector. With replicas, each owner votes and
 * the vote that makes a majority commits. When etcd goes away it keeps probing its last share, reports
 * what it sees on its own, and rejoins (new lease, same id) when etcd answers again.
 */
export class FleetAgent extends EventEmitter<Events> {
  private readonly log: Logger;
  private lease: Lease | undefined;
  /** The lease's keep-alive last failed: etcd is not answering, so a commit would only wait. */
  private etcdFailing = false;
  private watcher: Watcher | undefined;
  private members = new Map<string, MemberRecord>();
  /** Records of members that left, for a host taken over from them. */
  private readonly departed = new Map<string, MemberRecord>();
  private downs = new Map<string, DownRecord>();
  /** Reported while etcd was unreachable: committed when it is back. */
  private readonly uncommitted = new Map<string, DownRecord>();
  /** Seen down while our own network did not answer: looked at again once it does. */
  private readonly heldOwn = new Set<string>();
  private revisitTimer: NodeJS.Timeout | undefined;
  private all: MonitoredHost[] = [];
  private ring: HashRing | undefined;
  private mine = new Set<string>();
  private settled = false;
  private published = '';
  private running = false;
  private recomputeQueued = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private rejoinTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date().toISOString();
  private readonly incarnation = randomUUID();

  constructor(private readonly opts: FleetAgentOptions) {
    super();
    this.log = (opts.logger ?? silentLogger()).child({ component: 'fleet', agent: opts.agentId });
    opts.monitor.on('down', (e: HostDownEvent) => this.handleDown(e));
    opts.monitor.on('up', (e: HostUpEvent) => void this.onUp(e).catch((err: Error) => this.log.warn({ host: e.host, err: err.message }, 'clearing host down failed')));
  }

  /** Hosts this agent probes now (its share, without the self-check targets). */
  assignment(): string[] {
    return [...this.mine].sort();
  }

  /** Joins and starts probing; when that fails (a refused id, a bad host list) everything started is stopped. */
  async start(): Promise<void> {
    this.running = true;
    try {
      this.all = await this.opts.hosts();
      await this.opts.monitor.start();
      await this.join();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.refreshTimer = setInterval(() => void this.refresh(), this.opts.refreshMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.refreshTimer);
    clearTimeout(this.rejoinTimer);
    clearTimeout(this.settleTimer);
    clearTimeout(this.revisitTimer);
    this.opts.monitor.stop();
    await this.watcher?.cancel().catch(() => undefined);
    // Revoke, so the others take our hosts over now instead of after the TTL.
    await this.lease?.revoke().catch(() => undefined);
    this.opts.store.client.close();
  }

  private async join(): Promise<void> {
    try {
      const lease = this.opts.store.lease(this.opts.ttlS);
      lease.on('lost', (err) => this.onLeaseLost(lease, err));
      lease.on('keepaliveFailed', () => (this.etcdFailing = true));
      lease.on('keepaliveSucceeded', () => (this.etcdFailing = false));
      await this.claim(lease);
      this.lease = lease;
      if (!this.watcher) {
        const w = await this.opts.store.watch((kind, name, value) => this.onWatch(kind, name, value));
        w.on('error', (err) => this.log.warn({ err: err.message }, 'etcd watch failed'));
        w.on('disconnected', (err) => this.log.warn({ err: err.message }, 'etcd watch disconnected; reconnecting'));
        // Changes while the watch was away are not replayed to us: read the state afresh.
        w.on('connected', () => {
          if (this.lease) void this.resync().catch((err: Error) => this.log.warn({ err: err.message }, 'resync after the watch reconnected failed'));
        });
        this.watcher = w;
      }
      await this.resync();
      // Failures reported while etcd was away: commit them now, so no other agent reports them again.
      for (const [host, record] of this.uncommitted) {
        await this.opts.store.commitDown({ ...record, committed: true });
        this.uncommitted.delete(host);
      }
      this.log.info({ members: [...this.members.keys()], hosts: this.mine.size }, 'joined the fleet');
      this.emit('etcd', { state: 'joined' });
    } catch (err) {
      if (err instanceof FleetIdTaken) throw err;
      this.log.warn({ err: (err as Error).message }, 'cannot join the fleet on etcd yet; probing the last assignment meanwhile');
      this.scheduleRejoin();
    }
  }

  /**
   * Takes members/<id>. Another holder of the id is either this agent's own key from before a restart
   * (gone within the TTL) or a second agent given the same id, which would split the ring wrongly.
   */
  private async claim(lease: Lease): Promise<void> {
    const deadline = Date.now() + (this.opts.ttlS + 1) * 1000;
    const record = this.record();
    while (!(await this.opts.store.claimMember(lease, record))) {
      if (Date.now() > deadline) {
        await lease.revoke().catch(() => undefined);
        throw new FleetIdTaken(this.opts.agentId);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.published = JSON.stringify(record);
  }

  private record(): MemberRecord {
    const silent = this.settled ? this.opts.monitor.states().filter((s) => s.state === 'unknown' && !s.host.startsWith(SELF)).map((s) => s.host) : [];
    return { id: this.opts.agentId, incarnation: this.incarnation, startedAt: this.startedAt, settled: this.settled, silent };
  }

  private scheduleRejoin(): void {
    if (!this.running || this.rejoinTimer) return;
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = undefined;
      this.join().catch((err: Error) => {
        // Our id was taken while we were away: keep probing the last share, but stay out of the group.
        this.log.error({ err: err.message }, 'cannot rejoin the fleet');
        this.emit('etcd', { state: 'lost', error: err.message });
      });
    }, 500);
  }

  private onLeaseLost(lease: Lease, err: Error): void {
    if (lease !== this.lease || !this.running) return;
    this.lease = undefined;
    this.log.warn({ err: err.message, hosts: this.mine.size }, 'lost the etcd lease: keeping watch on the last assignment and rejoining when etcd answers');
    this.emit('etcd', { state: 'lost', error: err.message });
    this.scheduleRejoin();
  }

  private async publish(): Promise<void> {
    if (!this.lease) return;
    const record = this.record();
    const body = JSON.stringify(record);
    if (body === this.published) return;
    await this.opts.store.putMember(this.lease, record);
    this.published = body;
  }

  /** Reads members and failures afresh (after joining, or when the watch reconnected). */
  private async resync(): Promise<void> {
    const [members, downs] = await Promise.all([this.opts.store.members(), this.opts.store.downs()]);
    this.members = members;
    this.downs = downs;
    await this.recompute();
  }

  private onWatch(kind: 'members' | 'down', name: string, value: string | undefined): void {
    if (kind === 'down') {
      if (value === undefined) this.downs.delete(name);
      else this.downs.set(name, JSON.parse(value) as DownRecord);
      return;
    }
    const had = this.members.get(name);
    if (value === undefined) {
      if (!had) return;
      this.departed.set(name, had);
      this.members.delete(name);
    } else {
      this.members.set(name, JSON.parse(value) as MemberRecord);
      this.departed.delete(name);
      // A new record of a member already known changes no ring: only its silent list.
      if (had) return;
    }
    this.queueRecompute();
  }

  private queueRecompute(): void {
    if (this.recomputeQueued) return;
    this.recomputeQueued = true;
    // Members often come and go in bursts (a restart, a cold start): one new ring for the burst.
    setTimeout(() => {
      this.recomputeQueued = false;
      void this.recompute().catch((err: Error) => this.log.error({ err: err.message }, 'rebalancing failed'));
    }, 20);
  }

  private async refresh(): Promise<void> {
    try {
      const hosts = await this.opts.hosts();
      const same = hosts.length === this.all.length && hosts.every((h, i) => h.name === this.all[i]!.name && h.ip === this.all[i]!.ip);
      if (!same) {
        const before = this.all;
        this.all = hosts;
        // A list the monitor refuses (a duplicate or unroutable address) is tried again next time.
        await this.recompute().catch((err: Error) => {
          this.all = before;
          throw err;
        });
      }
      await this.publish();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'refreshing the host list or the member record failed; keeping the last');
    }
  }

  private async recompute(): Promise<void> {
    if (!this.running) return;
    const ids = new Set(this.members.keys());
    // While we are out of the group (etcd gone) we still count ourselves in: keep probing our share.
    ids.add(this.opts.agentId);
    const ring = new HashRing(ids);
    const previous = this.ring;
    const next = new Set(this.all.filter((h) => ring.owners(h.name, this.opts.replicas).includes(this.opts.agentId)).map((h) => h.name));
    const added = [...next].filter((h) => !this.mine.has(h)).sort();
    const removed = [...this.mine].filter((h) => !next.has(h)).sort();
    this.ring = ring;
    if (!added.length && !removed.length && previous) {
      // Same share (with replicas, often all of it), other members: say so, nothing to re-probe.
      if (previous.members.join() !== ring.members.join()) this.emit('assignment', { members: [...ring.members], hosts: this.assignment(), added, removed });
      return;
    }
    const initial = (h: MonitoredHost): 'unknown' | 'up' | 'down' => {
      if (h.name.startsWith(SELF)) return 'unknown';
      if (this.downs.has(h.name)) return 'down';
      // Taken over from an owner that had settled and heard from it: it was up, so a failure during
      // the hand-over is still a failure (a host that starts 'unknown' can never go down).
      const from = previous?.owners(h.name, this.opts.replicas).filter((m) => m !== this.opts.agentId) ?? [];
      const heard = from.some((m) => {
        const rec = this.members.get(m) ?? this.departed.get(m);
        return rec?.settled === true && !rec.silent.includes(h.name);
      });
      return heard ? 'up' : 'unknown';
    };
    const probe = [...this.all.filter((h) => next.has(h.name)), ...this.opts.selfCheck.map((h) => ({ name: `${SELF}${h.name}`, ip: h.ip }))];
    await this.opts.monitor.setHosts(probe, initial);
    this.mine = next;
    this.settled = false;
    // Until settled again, the old silent list says nothing about the new share: say so now.
    void this.publish().catch(() => undefined);
    this.log.info({ members: ring.members, hosts: next.size, added: added.length, removed: removed.length }, 'assignment changed');
    this.emit('assignment', { members: [...ring.members], hosts: this.assignment(), added, removed });
    clearTimeout(this.settleTimer);
    // Settled once every new host had time to answer a few probes.
    const p = this.opts.monitor.profile;
    this.settleTimer = setTimeout(() => {
      this.settled = true;
      void this.publish().catch(() => undefined);
    }, 3 * (p.intervalMs + p.timeoutMs) + 200);
  }

  /** The host's owners now. */
  private ownersOf(host: string): string[] {
    return this.ring?.owners(host, this.opts.replicas) ?? [this.opts.agentId];
  }

  /** The host's owners now, and which of them have voted it down. */
  private async votes(host: string): Promise<{ owners: string[]; voters: string[] }> {
    const owners = this.ownersOf(host);
    const voters = (await this.opts.store.voters(host)).filter((v) => owners.includes(v)).sort();
    return { owners, voters };
  }

  /**
   * Our own network works when a self-check target answered a probe sent after the probe that went
   * unanswered: waits at most one interval plus a timeout for that answer.
   */
  private async ownNetworkOk(since: number): Promise<boolean> {
    if (!this.opts.selfCheck.length) return true;
    const p = this.opts.monitor.profile;
    const deadline = Date.now() + p.intervalMs + p.timeoutMs + 50;
    for (;;) {
      const answered = this.opts.selfCheck.some((h) => (this.opts.monitor.lastReplyAt(h.ip) ?? 0) > since);
      if (answered) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private handleDown(e: HostDownEvent): void {
    void this.onDown(e).catch((err: Error) => this.log.error({ host: e.host, err: err.message }, 'handling host down failed'));
  }

  private async onDown(e: HostDownEvent): Promise<void> {
    if (e.host.startsWith(SELF)) {
      this.log.warn({ target: e.host.slice(SELF.length), ip: e.ip }, 'self-check target is not answering');
      return;
    }
    if (!(await this.ownNetworkOk(e.detectedAt - this.opts.monitor.profile.timeoutMs))) {
      this.log.warn({ host: e.host }, 'host looks down, but so does our own network: not voting');
      this.heldOwn.add(e.host);
      this.emit('held', { host: e.host, why: 'own-network' });
      return;
    }
    const record: DownRecord = { eventId: `fleet_${randomUUID()}`, host: e.host, detectedAt: e.detectedAt, agents: [this.opts.agentId], committedBy: this.opts.agentId, committed: true };
    if (!this.lease || this.etcdFailing) return this.reportAlone(record, 'etcd is not answering');
    try {
      if (this.opts.replicas > 1) {
        const voted = await this.opts.store.vote(this.lease, e.host, this.opts.agentId, e.detectedAt);
        const owners = this.ownersOf(e.host);
        const voters = voted.filter((v) => owners.includes(v)).sort();
        if (voters.length < majority(owners.length)) {
          this.emit('held', { host: e.host, why: 'no-majority', voters });
          return;
        }
        record.agents = voters;
      }
      if (await this.opts.store.commitDown(record)) {
        this.emit('down', record);
        await this.opts.report(record);
      } else {
        this.emit('held', { host: e.host, why: 'committed' });
      }
    } catch (err) {
      await this.reportAlone(record, (err as Error).message);
    }
  }

  /** etcd cannot be asked: better a failure reported twice than not at all. Committed on rejoin. */
  private async reportAlone(record: DownRecord, why: string): Promise<void> {
    const alone = { ...record, committed: false };
    this.log.warn({ host: record.host, why }, 'reporting a host down without the fleet\'s commit; another agent may report it too');
    this.uncommitted.set(record.host, alone);
    this.emit('down', alone);
    await this.opts.report(alone);
  }

  /**
   * Our own network answers again. A host held while it did not and still silent now may have failed
   * meanwhile (its tracker stays down, so no new down comes): vote on it, once every host had time to
   * answer a probe sent after the recovery, so the hosts that were only cut off from us are up by then.
   */
  private revisit(since: number): void {
    if (!this.heldOwn.size || this.revisitTimer) return;
    const p = this.opts.monitor.profile;
    this.revisitTimer = setTimeout(() => {
      this.revisitTimer = undefined;
      const still = this.opts.monitor.states().filter((s) => this.heldOwn.has(s.host) && s.state === 'down' && (s.lastReplyAt ?? 0) < since);
      this.heldOwn.clear();
      for (const s of still) {
        const e: HostDownEvent = { host: s.host, ip: s.ip, detectedAt: Date.now(), losses: s.losses, lastReplyAt: s.lastReplyAt };
        this.handleDown(e);
      }
    }, 2 * (p.intervalMs + p.timeoutMs) + 50);
  }

  private async onUp(e: HostUpEvent): Promise<void> {
    if (e.host.startsWith(SELF)) return this.revisit(e.at);
    // Held while we were cut off: we never voted on it, so there is nothing of ours to take back.
    if (this.heldOwn.delete(e.host)) return;
    this.uncommitted.delete(e.host);
    if (e.from !== 'down' || !this.lease) return;
    if (this.opts.replicas > 1) {
      await this.opts.store.unvote(e.host, this.opts.agentId);
      const { owners, voters } = await this.votes(e.host);
      if (voters.length >= majority(owners.length)) return;
    }
    await this.opts.store.clearDown(e.host);
  }
}

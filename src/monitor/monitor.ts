import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { type Clock, type Logger, preciseNow, silentLogger } from '../shared/index.js';
import { echoReplySequence, ipv4Int32, writeEchoRequest } from './icmp.js';
import { HostTracker, type HostState } from './tracker.js';
import type { IcmpTransport } from './transport.js';

export interface MonitoredHost {
  name: string;
  ip: string;
}

export interface ProbeProfile {
  /** Time between probes to one host. */
  intervalMs: number;
  /** How long a probe waits for its reply. */
  timeoutMs: number;
  /** Consecutive losses that make a host down. */
  k: number;
}

/** Doctor's sample monitor: 100 ms, 100 ms, first loss. */
export const DOCTOR_PROFILE: ProbeProfile = { intervalMs: 100, timeoutMs: 100, k: 1 };
/** Faster and steadier: detection within ~35 ms, a false alarm needs 4 losses in a row. */
export const FAST_PROFILE: ProbeProfile = { intervalMs: 5, timeoutMs: 15, k: 4 };

export interface HostDownEvent {
  host: string;
  ip: string;
  /** Epoch ms (fractional) when the k-th consecutive loss was established. */
  detectedAt: number;
  losses: number;
  /** When the last reply before the failure arrived. */
  lastReplyAt: number | undefined;
}

export interface HostUpEvent {
  host: string;
  ip: string;
  at: number;
  from: HostState;
}

export interface MonitorOptions extends Partial<ProbeProfile> {
  hosts: MonitoredHost[];
  transport: IcmpTransport;
  now?: Clock;
  logger?: Logger;
  /** ICMP identifier; random per monitor by default. */
  identifier?: number;
  /**
   * Refuses a target before any probe is sent (throws naming why): in lab mode, the lab's
   * guard that every address is routed through one of its own links. Called once with every address.
   */
  guard?: (ips: string[]) => Promise<void>;
}

interface HostRun {
  host: MonitoredHost;
  /** The address as icmp.ts's ipv4Int32 number, for a transport's numeric path (undefined: not IPv4). */
  v4: number | undefined;
  tracker: HostTracker;
  /** Unsettled probes, oldest first: their numbers in the probe ring. */
  outstanding: number[];
  nextSeq: number;
  lastReplyAt?: number;
  sent: number;
  replies: number;
  losses: number;
  /** Probes never answered but settled by a later reply (not losses for the state machine). */
  superseded: number;
}

/** How late probes left against the schedule: a histogram in 0.1 ms steps up to 100 ms. */
export interface ScheduleStats {
  probes: number;
  lateP50Ms: number;
  lateP99Ms: number;
  lateMaxMs: number;
  /** Probes a stalled event loop skipped (at most one per host is sent when it catches up). */
  skipped: number;
}

const LATE_STEPS = 1_000;

/**
 * Probes many hosts from one raw socket. Probes are pipelined: each host gets
 * one every `intervalMs` whether or not the last one was answered. A probe is
 * lost when no reply came `timeoutMs` after it was sent; the check runs after
 * pending I/O (setImmediate), so a reply delayed only by a busy event loop is
 * not mistaken for a loss. A reply to a later probe settles earlier ones.
 * Emits 'down' (HostDownEvent) and 'up' (HostUpEvent).
 *
 * One scheduler for every host, not a timer per probe: host i of n is due at
 * start + i·interval/n + m·interval, so the next probe due is always the next
 * host in turn, and every probe's loss deadline comes in the order the probes
 * were sent. One timer waits for whichever is first; a wake sends every probe
 * that is due and queues the loss check of every deadline that has passed. Due
 * times are computed from the start, never from the last wake, so no host drifts.
 */
export class Monitor extends EventEmitter {
  readonly profile: ProbeProfile;
  readonly identifier: number;
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly runs = new Map<string, HostRun>();
  private readonly runsByV4 = new Map<number, HostRun>();
  private readonly order: HostRun[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private cursor = 0;
  private round = 0;
  /**
   * Every probe sent, in send order (so in deadline order), as a ring of typed arrays: probe n (counted from
   * 0 since start) sits at n & mask. `head` is the oldest not yet checked, `tail` the next to send. No object
   * per probe: at thousands of hosts a probe object lives long enough (its deadline) to be promoted, and old
   * space then grows by megabytes a second until a full collection (the RSS sawtooth of 2,000 hosts).
   */
  private ring = new ProbeRing(1024);
  private head = 0;
  private tail = 0;
  private checkQueued = false;
  private readonly late = new Uint32Array(LATE_STEPS + 1);
  private readonly scratch = Buffer.alloc(16);
  private lateMax = 0;
  private probes = 0;
  private skipped = 0;

  constructor(private readonly opts: MonitorOptions) {
    super();
    this.profile = {
      intervalMs: opts.intervalMs ?? DOCTOR_PROFILE.intervalMs,
      timeoutMs: opts.timeoutMs ?? DOCTOR_PROFILE.timeoutMs,
      k: opts.k ?? DOCTOR_PROFILE.k,
    };
    if (!(this.profile.intervalMs >= 1) || !(this.profile.timeoutMs >= 1)) throw new RangeError('interval and timeout must be at least 1 ms');
    this.identifier = opts.identifier ?? randomInt(1, 0xffff);
    this.now = opts.now ?? preciseNow;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'monitor' });
    this.place(opts.hosts, () => 'unknown');
  }

  /** `batch` or `raw-socket`: the ICMP socket probing (undefined for a test's fake). */
  get transport(): 'batch' | 'raw-socket' | undefined {
    return this.opts.transport.kind;
  }

  /**
   * Makes `hosts` the ones probed, in that order: a host already here (same address and name) keeps its
   * run; a new one starts as `initial` says; a dropped one's probes in flight are settled and ignored.
   */
  private place(hosts: MonitoredHost[], initial: (host: MonitoredHost) => 'unknown' | 'up' | 'down'): void {
    const next = new Map<string, HostRun>();
    for (const h of hosts) {
      if (next.has(h.ip)) throw new RangeError(`two monitored hosts share the address ${h.ip}`);
      const kept = this.runs.get(h.ip);
      next.set(h.ip, kept && kept.host.name === h.name ? kept : {
        host: h, v4: ipv4Int32(h.ip), tracker: new HostTracker(this.profile.k, initial(h)), outstanding: [], nextSeq: randomInt(0, 0xffff), sent: 0, replies: 0, losses: 0, superseded: 0,
      });
    }
    for (const [ip, run] of this.runs) {
      if (next.get(ip) === run) continue;
      for (const n of run.outstanding) this.ring.settle(n);
      run.outstanding.length = 0;
    }
    this.runs.clear();
    this.runsByV4.clear();
    for (const [ip, run] of next) {
      this.runs.set(ip, run);
      if (run.v4 !== undefined) this.runsByV4.set(run.v4, run);
    }
    this.order.length = 0;
    this.order.push(...next.values());
  }

  /**
   * Replaces the hosts probed (a fleet's new assignment). Hosts kept keep their state and counters; a new
   * one starts as `initial` says ('unknown' unless told); a host dropped is forgotten, its probes in
   * flight ignored. New addresses pass the guard first; a refused one changes nothing. The schedule
   * restarts from now, spread over the new number of hosts.
   */
  async setHosts(hosts: MonitoredHost[], initial: (host: MonitoredHost) => 'unknown' | 'up' | 'down' = () => 'unknown'): Promise<void> {
    const added = hosts.filter((h) => this.runs.get(h.ip)?.host.name !== h.name);
    if (added.length && this.opts.guard) await this.opts.guard(added.map((h) => h.ip));
    this.place(hosts, initial);
    if (!this.running) return;
    clearTimeout(this.timer);
    this.startedAt = this.now();
    this.cursor = 0;
    this.round = 0;
    this.wake();
  }

  /** Checks every host against the guard, then starts probing; a refused host starts nothing. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.opts.guard) await this.opts.guard([...this.runs.keys()]);
    if (this.running) return;
    this.running = true;
    const transport = this.opts.transport;
    if (transport.onPacketV4) {
      transport.onPacketV4((buffer, length, source) => {
        const run = this.runsByV4.get(source);
        if (run) this.onReply(run, buffer, length);
      });
    } else {
      transport.onPacket((packet, source) => {
        const run = this.runs.get(source);
        if (run) this.onReply(run, packet, packet.length);
      });
    }
    this.opts.transport.onSendError?.((ip, err) => {
      const run = this.runs.get(ip);
      if (run) this.sendFailed(run, err);
    });
    this.startedAt = this.now();
    this.wake();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.opts.transport.close();
  }

  states(): Array<{ host: string; ip: string; state: HostState; sent: number; replies: number; losses: number; unanswered: number; lastReplyAt: number | undefined }> {
    return this.order.map((r) => ({
      host: r.host.name, ip: r.host.ip, state: r.tracker.state, sent: r.sent, replies: r.replies, losses: r.losses, unanswered: r.losses + r.superseded, lastReplyAt: r.lastReplyAt,
    }));
  }

  /** When the host at `ip` last answered (epoch ms), without building every host's state. */
  lastReplyAt(ip: string): number | undefined {
    return this.runs.get(ip)?.lastReplyAt;
  }

  /** How punctually probes left: lateness against each probe's due time. */
  schedule(): ScheduleStats {
    const at = (q: number): number => {
      const rank = Math.max(1, Math.ceil(q * this.probes));
      let seen = 0;
      for (let i = 0; i <= LATE_STEPS; i++) {
        seen += this.late[i]!;
        if (seen >= rank) return i / 10;
      }
      return NaN;
    };
    return { probes: this.probes, lateP50Ms: at(0.5), lateP99Ms: at(0.99), lateMaxMs: Math.round(this.lateMax * 10) / 10, skipped: this.skipped };
  }

  /** Resolves when every host has answered once; rejects naming the silent ones at the deadline. */
  async ready(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.order.every((r) => r.tracker.state !== 'unknown')) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    const silent = this.order.filter((r) => r.tracker.state === 'unknown').map((r) => `${r.host.name} (${r.host.ip})`);
    const shown = silent.length > 20 ? [...silent.slice(0, 20), `and ${silent.length - 20} more`] : silent;
    throw new Error(`no ICMP echo reply within ${timeoutMs} ms from ${shown.join(', ')}; check the address and that ICMP is not filtered`);
  }

  private dueAt(cursor: number, round: number): number {
    const { intervalMs } = this.profile;
    return this.startedAt + round * intervalMs + (cursor * intervalMs) / this.order.length;
  }

  private wake(): void {
    this.timer = undefined;
    if (!this.running || !this.order.length) return;
    const now = this.now();
    const { intervalMs } = this.profile;
    // After a stall longer than an interval, send each host one probe, not every one it missed.
    const behind = now - this.dueAt(this.cursor, this.round);
    if (behind > intervalMs) {
      const rounds = Math.floor(behind / intervalMs);
      this.round += rounds;
      this.skipped += rounds * this.order.length;
    }
    for (let due = this.dueAt(this.cursor, this.round); due <= now; due = this.dueAt(this.cursor, this.round)) {
      this.send(this.order[this.cursor]!, due);
      if (++this.cursor === this.order.length) {
        this.cursor = 0;
        this.round += 1;
      }
    }
    if (this.head < this.tail && this.ring.deadlineOf(this.head) <= now && !this.checkQueued) {
      this.checkQueued = true;
      // After pending I/O: a reply that is already here settles its probe before the check.
      setImmediate(() => this.expireUntil(now));
    }
    this.arm();
  }

  /** One timer, for the next probe due or the next loss deadline, whichever is first. */
  private arm(): void {
    // Probes a reply settled need no check: the queue's head moves past them for good.
    while (this.head < this.tail && this.ring.isSettled(this.head)) this.ring.release(this.head++);
    let at = this.dueAt(this.cursor, this.round);
    // With a check queued, the deadlines are waited for again once it ran (it re-arms).
    if (this.head < this.tail && !this.checkQueued) at = Math.min(at, this.ring.deadlineOf(this.head));
    this.timer = setTimeout(() => this.wake(), Math.max(0, Math.ceil(at - this.now())));
  }

  private send(run: HostRun, due: number): void {
    const seq = run.nextSeq;
    run.nextSeq = (run.nextSeq + 1) & 0xffff;
    const sentAt = this.now();
    if (this.tail - this.head === this.ring.capacity) this.ring = this.ring.grown(this.head, this.tail);
    const n = this.tail++;
    this.ring.put(n, run, seq, sentAt + this.profile.timeoutMs);
    run.outstanding.push(n);
    run.sent += 1;
    this.probes += 1;
    const late = Math.max(0, sentAt - due);
    this.late[Math.min(LATE_STEPS, Math.floor(late * 10))]! += 1;
    if (late > this.lateMax) this.lateMax = late;
    // One buffer for every probe: a transport copies or sends it before send returns. A probe sent at once
    // returns nothing to wait for (no promise per probe).
    const transport = this.opts.transport;
    const message = writeEchoRequest(this.scratch, this.identifier, seq, sentAt);
    const queued = run.v4 !== undefined && transport.sendV4 ? transport.sendV4(run.v4, message) : transport.send(run.host.ip, message);
    if (queued) queued.catch((err: Error) => this.sendFailed(run, err));
  }

  private sendFailed(run: HostRun, err: Error): void {
    // ENETUNREACH and friends: the probe simply gets no reply and times out.
    this.log.debug({ host: run.host.name, err: err.message }, 'probe send failed');
  }

  /** Every probe whose deadline is at or before `cutoff` and that no reply settled is lost. */
  private expireUntil(cutoff: number): void {
    this.checkQueued = false;
    if (!this.running) return;
    // Replies already in the socket settle their probes first, however many a busy turn left unread.
    this.opts.transport.drain?.();
    while (this.head < this.tail) {
      const n = this.head;
      const settled = this.ring.isSettled(n);
      if (!settled && this.ring.deadlineOf(n) > cutoff) break;
      this.head += 1;
      if (!settled) this.lose(n);
      this.ring.release(n);
    }
    clearTimeout(this.timer);
    this.arm();
  }

  private lose(n: number): void {
    const run = this.ring.runOf(n)!;
    this.ring.settle(n);
    // Deadlines come in send order, so a lost probe is its host's oldest outstanding one.
    const idx = run.outstanding.indexOf(n);
    if (idx >= 0) run.outstanding.splice(idx, 1);
    run.losses += 1;
    const t = run.tracker.loss();
    if (t?.to === 'down') {
      const event: HostDownEvent = { host: run.host.name, ip: run.host.ip, detectedAt: this.now(), losses: t.losses, lastReplyAt: run.lastReplyAt };
      this.log.info({ host: event.host, ip: event.ip, losses: event.losses }, 'host down');
      this.emit('down', event);
    }
  }

  private onReply(run: HostRun, packet: Buffer, length: number): void {
    const sequence = echoReplySequence(packet, this.identifier, length);
    if (sequence < 0) return;
    const waiting = run.outstanding;
    let idx = 0;
    while (idx < waiting.length && this.ring.seqOf(waiting[idx]!) !== sequence) idx += 1;
    if (idx === waiting.length) return; // late (already counted lost), duplicate, or not ours
    const at = this.now();
    // This reply settles it and every earlier probe still waiting: the host is alive. (shift, not
    // splice: no array allocated per reply.)
    for (let i = 0; i <= idx; i++) this.ring.settle(waiting.shift()!);
    run.superseded += idx;
    run.replies += 1;
    run.lastReplyAt = at;
    const t = run.tracker.reply();
    if (t) {
      const event: HostUpEvent = { host: run.host.name, ip: run.host.ip, at, from: t.from };
      this.log.info({ host: event.host, from: t.from }, 'host up');
      this.emit('up', event);
    }
  }
}

/**
 * The probes in flight, by number: probe n at slot n & (capacity − 1). Its host, sequence number and loss
 * deadline; settled once a reply (or its loss) has counted. Grows by doubling when every slot is in flight.
 */
class ProbeRing {
  private readonly mask: number;
  private readonly runs: Array<HostRun | undefined>;
  private readonly seqs: Uint16Array;
  private readonly deadlines: Float64Array;
  private readonly settled: Uint8Array;

  constructor(readonly capacity: number) {
    this.mask = capacity - 1;
    this.runs = new Array<HostRun | undefined>(capacity).fill(undefined);
    this.seqs = new Uint16Array(capacity);
    this.deadlines = new Float64Array(capacity);
    this.settled = new Uint8Array(capacity);
  }

  put(n: number, run: HostRun, seq: number, deadline: number): void {
    const i = n & this.mask;
    this.runs[i] = run;
    this.seqs[i] = seq;
    this.deadlines[i] = deadline;
    this.settled[i] = 0;
  }

  runOf(n: number): HostRun | undefined {
    return this.runs[n & this.mask];
  }

  seqOf(n: number): number {
    return this.seqs[n & this.mask]!;
  }

  deadlineOf(n: number): number {
    return this.deadlines[n & this.mask]!;
  }

  isSettled(n: number): boolean {
    return this.settled[n & this.mask] === 1;
  }

  settle(n: number): void {
    this.settled[n & this.mask] = 1;
  }

  /** The slot is free again: its host is no longer held by it. */
  release(n: number): void {
    this.runs[n & this.mask] = undefined;
  }

  /** A ring twice the size holding probes head … tail − 1 under the same numbers. */
  grown(head: number, tail: number): ProbeRing {
    const next = new ProbeRing(this.capacity * 2);
    for (let n = head; n < tail; n++) {
      next.put(n, this.runOf(n)!, this.seqOf(n), this.deadlineOf(n));
      if (this.isSettled(n)) next.settle(n);
    }
    return next;
  }
}

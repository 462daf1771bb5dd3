import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { type Clock, type Logger, preciseNow, silentLogger } from '../shared/index.js';
import { decodeIcmp, encodeEchoRequest, isEchoReplyFor } from './icmp.js';
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
   * guard that every address is routed through one of its own links.
   */
  guard?: (ip: string) => Promise<void>;
}

interface Probe {
  seq: number;
  sentAt: number;
  done: boolean;
}

interface HostRun {
  host: MonitoredHost;
  tracker: HostTracker;
  outstanding: Probe[];
  nextSeq: number;
  timer?: NodeJS.Timeout;
  lastReplyAt?: number;
  sent: number;
  replies: number;
  losses: number;
  /** Probes never answered but settled by a later reply (not losses for the state machine). */
  superseded: number;
}

/**
 * Probes many hosts from one raw socket. Probes are pipelined: each host gets
 * one every `intervalMs` whether or not the last one was answered. A probe is
 * lost when no reply came `timeoutMs` after it was sent; the check runs after
 * pending I/O (setImmediate), so a reply delayed only by a busy event loop is
 * not mistaken for a loss. A reply to a later probe settles earlier ones.
 * Emits 'down' (HostDownEvent) and 'up' (HostUpEvent).
 */
export class Monitor extends EventEmitter {
  readonly profile: ProbeProfile;
  readonly identifier: number;
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly runs = new Map<string, HostRun>();
  private running = false;

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
    const ips = new Set<string>();
    for (const host of opts.hosts) {
      if (ips.has(host.ip)) throw new RangeError(`two monitored hosts share the address ${host.ip}`);
      ips.add(host.ip);
      this.runs.set(host.ip, { host, tracker: new HostTracker(this.profile.k), outstanding: [], nextSeq: randomInt(0, 0xffff), sent: 0, replies: 0, losses: 0, superseded: 0 });
    }
  }

  /** Checks every host against the guard, then starts probing; a refused host starts nothing. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.opts.guard) for (const run of this.runs.values()) await this.opts.guard(run.host.ip);
    if (this.running) return;
    this.running = true;
    this.opts.transport.onPacket((packet, source) => this.onPacket(packet, source));
    // Stagger hosts across one interval so the socket is not hit in bursts.
    const n = this.runs.size;
    [...this.runs.values()].forEach((run, i) => {
      run.timer = setTimeout(() => this.tick(run, this.now()), (this.profile.intervalMs * i) / Math.max(1, n));
    });
  }

  stop(): void {
    this.running = false;
    for (const run of this.runs.values()) clearTimeout(run.timer);
    this.opts.transport.close();
  }

  states(): Array<{ host: string; ip: string; state: HostState; sent: number; replies: number; losses: number; unanswered: number }> {
    return [...this.runs.values()].map((r) => ({
      host: r.host.name, ip: r.host.ip, state: r.tracker.state, sent: r.sent, replies: r.replies, losses: r.losses, unanswered: r.losses + r.superseded,
    }));
  }

  /** Resolves when every host has answered once; rejects naming the silent ones at the deadline. */
  async ready(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ([...this.runs.values()].every((r) => r.tracker.state !== 'unknown')) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    const silent = [...this.runs.values()].filter((r) => r.tracker.state === 'unknown').map((r) => `${r.host.name} (${r.host.ip})`);
    throw new Error(`no ICMP echo reply within ${timeoutMs} ms from ${silent.join(', ')}; check the address and that ICMP is not filtered`);
  }

  private tick(run: HostRun, scheduledAt: number): void {
    if (!this.running) return;
    const seq = run.nextSeq;
    run.nextSeq = (run.nextSeq + 1) & 0xffff;
    const probe: Probe = { seq, sentAt: this.now(), done: false };
    run.outstanding.push(probe);
    run.sent += 1;
    const payload = Buffer.alloc(8);
    payload.writeDoubleBE(probe.sentAt);
    this.opts.transport.send(run.host.ip, encodeEchoRequest(this.identifier, seq, payload)).catch((err: Error) => {
      // ENETUNREACH and friends: the probe simply gets no reply and times out.
      this.log.debug({ host: run.host.name, err: err.message }, 'probe send failed');
    });
    setTimeout(() => setImmediate(() => this.expire(run, probe)), this.profile.timeoutMs);
    // Fixed cadence: the next probe is due one interval after this one was due, not after it ran.
    const next = scheduledAt + this.profile.intervalMs;
    run.timer = setTimeout(() => this.tick(run, next), Math.max(0, next - this.now()));
  }

  private expire(run: HostRun, probe: Probe): void {
    if (probe.done || !this.running) return;
    probe.done = true;
    run.outstanding = run.outstanding.filter((p) => p !== probe);
    run.losses += 1;
    const t = run.tracker.loss();
    if (t?.to === 'down') {
      const event: HostDownEvent = { host: run.host.name, ip: run.host.ip, detectedAt: this.now(), losses: t.losses, lastReplyAt: run.lastReplyAt };
      this.log.info({ host: event.host, ip: event.ip, losses: event.losses }, 'host down');
      this.emit('down', event);
    }
  }

  private onPacket(packet: Buffer, source: string): void {
    const run = this.runs.get(source);
    if (!run) return;
    const msg = decodeIcmp(packet);
    if (!isEchoReplyFor(msg, this.identifier)) return;
    const idx = run.outstanding.findIndex((p) => p.seq === msg.sequence);
    if (idx < 0) return; // late (already counted lost), duplicate, or not ours
    const at = this.now();
    // This reply settles it and every earlier probe still waiting: the host is alive.
    for (const p of run.outstanding.slice(0, idx + 1)) p.done = true;
    run.superseded += idx;
    run.outstanding = run.outstanding.slice(idx + 1);
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

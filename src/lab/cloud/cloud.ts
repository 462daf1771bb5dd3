import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { type Logger, preciseNow, silentLogger } from '../../shared/index.js';
import { Faults } from './faults.js';
import { CloudState, type ComputeHostSpec, type TokenRec } from './state.js';

/** Milliseconds each hop of the notification chain takes (default 0: as fast as the sim can). */
export interface HopLatency {
  /** nova: state saved → compute.instance.update emitted */
  notify: number;
  /** ceilometer: notification → event published to aodh */
  transform: number;
  /** aodh: event received → alarm evaluated */
  evaluate: number;
  /** aodh: evaluated → alarm state changed (fired) */
  fire: number;
  /** aodh notifier: fired → webhook POST sent */
  deliver: number;
}

export type TraceHop =
  | 'state_change'
  | 'notification'
  | 'event'
  | 'alarm_evaluated'
  | 'alarm_fired'
  | 'webhook_delivered'
  | 'webhook_failed'
  | 'webhook_dropped'
  | 'webhook_refused';

/** One timestamped hop of the notification chain, for the profiler. */
export interface TracePoint {
  seq: number;
  hop: TraceHop;
  /** Epoch milliseconds, fractional, on the sim's clock (the harness's when in-process). */
  at: number;
  instanceId?: string;
  state?: string;
  eventId?: string;
  alarmId?: string;
  url?: string;
  status?: number;
  detail?: string;
}

export interface CloudOptions {
  /** Compute hosts served as nova-compute services and hypervisors. */
  hosts?: ComputeHostSpec[];
  region?: string;
  adminUser?: string;
  /** Random when not given; read it from `cloud.adminPassword`. */
  adminPassword?: string;
  /** BUILD → ACTIVE delay. */
  buildDelayMs?: number;
  latency?: Partial<HopLatency>;
  computeVersions?: { min: string; max: string };
  /** false reproduces an ml2 without tenant network types: members get 503 NoNetworkAvailable. */
  tenantNetworks?: boolean;
  tokenTtlMs?: number;
  /** Name nova-api's host has in notifications (the `host` trait of API-side updates). */
  controllerHost?: string;
  /** Allow webhooks to non-loopback, non-lab addresses (off: the lab only talks to this machine). */
  allowRemoteWebhooks?: boolean;
  /** Nova's `[api] max_limit`: the most items a list answers at once (1000). */
  maxLimit?: number;
  logger?: Logger;
  now?: () => number;
}

export const DEFAULT_HOSTS: ComputeHostSpec[] = [
  { name: 'compute-1', ip: '198.18.0.2' },
  { name: 'compute-2', ip: '198.18.0.6' },
];

/** The trace keeps the newest MAX_TRACE points; it is trimmed once it is TRACE_SLACK over, so a point costs O(1) amortised. */
export const MAX_TRACE = 100_000;
const TRACE_SLACK = 10_000;

/** The simulated cloud's model: state, options, fault switches and trace feed. */
export class Cloud extends EventEmitter {
  readonly state = new CloudState();
  readonly faults = new Faults();
  readonly trace: TracePoint[] = [];
  readonly now: () => number;
  readonly log: Logger;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly latency: HopLatency;
  readonly buildDelayMs: number;
  readonly computeVersions: { min: string; max: string };
  readonly region: string;
  readonly tokenTtlMs: number;
  readonly controllerHost: string;
  readonly allowRemoteWebhooks: boolean;
  readonly maxLimit: number;
  tenantNetworks: boolean;
  /** Public base URL, set when the server is listening. */
  baseUrl = 'http://127.0.0.1';
  private traceSeq = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly immediates = new Set<NodeJS.Immediate>();
  /** A background step (not a request) is running: a 0 ms step it starts runs within it. */
  private inBackground = false;
  readonly adminProjectId: string;

  constructor(opts: CloudOptions = {}) {
    super();
    this.now = opts.now ?? preciseNow;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'lab-cloud' });
    this.adminUser = opts.adminUser ?? 'admin';
    this.adminPassword = opts.adminPassword ?? randomBytes(12).toString('base64url');
    this.latency = { notify: 0, transform: 0, evaluate: 0, fire: 0, deliver: 0, ...opts.latency };
    this.buildDelayMs = opts.buildDelayMs ?? 100;
    this.computeVersions = opts.computeVersions ?? { min: '2.1', max: '2.93' };
    this.region = opts.region ?? 'RegionOne';
    this.tokenTtlMs = opts.tokenTtlMs ?? 3_600_000;
    this.controllerHost = opts.controllerHost ?? 'controller';
    this.maxLimit = opts.maxLimit ?? 1000;
    this.allowRemoteWebhooks = opts.allowRemoteWebhooks ?? false;
    this.tenantNetworks = opts.tenantNetworks ?? true;

    const s = this.state;
    const admin = s.addRole('admin');
    s.addRole('member');
    s.addRole('reader');
    const adminProject = s.addProject('admin', 'Bootstrap project for initializing the cloud.');
    s.addProject('service', 'Service project');
    const adminUser = s.addUser(this.adminUser, this.adminPassword);
    s.assign(adminProject.id, adminUser.id, admin.id);
    this.adminProjectId = adminProject.id;
    for (const h of opts.hosts ?? DEFAULT_HOSTS) s.addComputeHost(h, this.now());
  }

  /** Catalog URLs of each service. */
  serviceUrl(kind: 'identity' | 'compute' | 'image' | 'network' | 'alarming'): string {
    switch (kind) {
      case 'identity':
        return `${this.baseUrl}/identity/v3/`;
      case 'compute':
        return `${this.baseUrl}/compute/v2.1`;
      default:
        return `${this.baseUrl}/${kind}`;
    }
  }

  issueToken(userId: string, projectId: string | undefined): TokenRec {
    const issuedAt = this.now();
    const token: TokenRec = {
      value: `gAAAAA${randomBytes(96).toString('base64url')}`,
      userId,
      projectId,
      roles: projectId ? this.state.effectiveRoles(projectId, userId) : [],
      issuedAt,
      expiresAt: issuedAt + this.tokenTtlMs,
      auditId: randomBytes(16).toString('base64url').slice(0, 22),
    };
    this.state.tokens.set(token.value, token);
    return token;
  }

  /** Every token issued so far stops working (fault switch). */
  revokeTokens(): number {
    const n = this.state.tokens.size;
    this.state.tokens.clear();
    return n;
  }

  record(point: Omit<TracePoint, 'seq' | 'at'> & { at?: number }): TracePoint {
    const p: TracePoint = { seq: ++this.traceSeq, at: point.at ?? this.now(), ...point } as TracePoint;
    this.trace.push(p);
    if (this.trace.length > MAX_TRACE + TRACE_SLACK) this.trace.splice(0, this.trace.length - MAX_TRACE);
    this.emit('trace', p);
    return p;
  }

  /** Trace points after `seq` (all when omitted). */
  traceSince(seq = 0): TracePoint[] {
    // seq grows by one per point: the first point after `seq` is found by bisection, not a scan.
    let lo = 0;
    let hi = this.trace.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.trace[mid]!.seq > seq) hi = mid;
      else lo = mid + 1;
    }
    return this.trace.slice(lo);
  }

  /**
   * Runs `fn` after `ms`; cancelled by `close()`. At 0 ms it runs once the current request is done (in
   * this turn of the event loop, not the next timer tick), and a 0 ms step started by a background step
   * runs right away: a chain of zero-latency hops (notification → event → evaluation → fire) costs no
   * turns of the loop, which under a burst of requests were a turn each (up to 35 ms between "evaluated"
   * and "fired" at 50 VMs).
   */
  later(ms: number, fn: () => void): void {
    if (ms <= 0 && this.inBackground) return this.step(fn);
    if (ms <= 0) {
      const i = setImmediate(() => {
        this.immediates.delete(i);
        this.step(fn);
      });
      this.immediates.add(i);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.step(fn);
    }, ms);
    this.timers.add(t);
  }

  private step(fn: () => void): void {
    const outer = this.inBackground;
    this.inBackground = true;
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'lab cloud background step failed');
    } finally {
      this.inBackground = outer;
    }
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const i of this.immediates) clearImmediate(i);
    this.immediates.clear();
  }
}

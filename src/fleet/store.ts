import { noop } from 'cockatiel';
import { Etcd3, type IKeyValue, type Lease, type Namespace, type Watcher } from 'etcd3';
import { ConfigError } from '../shared/index.js';

/** What an agent publishes about itself under members/<id>, on its lease. */
export interface MemberRecord {
  id: string;
  /** Random per process: tells this process's own key from another agent given the same id. */
  incarnation: string;
  startedAt: string;
  /** Its monitor has probed its current assignment long enough for `silent` to mean something. */
  settled: boolean;
  /** Hosts of its assignment that never answered it (a new owner must not assume they are up). */
  silent: string[];
}

/** The one committed failure of a host, under down/<host> (no lease: it outlives the agent that wrote it). */
export interface DownRecord {
  eventId: string;
  host: string;
  detectedAt: number;
  agents: string[];
  committedBy: string;
  /** false when the reporting agent could not reach etcd and reported on its own, committing later. */
  committed: boolean;
}

/**
 * etcd URLs as users write them: etcd://host:port[,host:port], etcd3+http://…, or http(s)://… (the
 * gRPC endpoints the etcd3 client takes).
 */
export function parseEtcdUrl(url: string): string[] {
  const m = /^(etcd|etcd3|etcd3\+http|etcd3\+https|http|https):\/\/([^/?#]+)\/?$/.exec(url.trim());
  if (!m) throw new ConfigError('--join', `"${url}" is not an etcd URL; give etcd://HOST:PORT (several as etcd://h1:2379,h2:2379)`);
  const tls = m[1] === 'https' || m[1] === 'etcd3+https';
  return m[2]!.split(',').map((hp) => {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(hp)) throw new ConfigError('--join', `"${hp}" in ${url} is not HOST:PORT`);
    return `${tls ? 'https' : 'http'}://${hp}`;
  });
}

/**
 * A short deadline on every unary call (1 s: a commit that takes longer means etcd is in trouble, and
 * the agent reports on its own rather than wait), and no
 * circuit breaker or retry inside the client: its default breaker keeps refusing calls for 5 s after
 * etcd is back, and the agent already retries on its own (rejoin, watch reconnect).
 */
export function fleetClient(endpoints: string[], callTimeoutMs = 1_000): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { host: () => noop, global: noop },
  });
}

const text = (b: Buffer | Uint8Array | string) => Buffer.from(b as Buffer).toString('utf8');

/** The fleet's keys under /doctor-fleet/<group>/: members/, votes/<host>/<agent>, down/<host>. */
export class FleetStore {
  readonly ns: Namespace;

  constructor(readonly client: Etcd3, readonly group: string) {
    if (!/^[A-Za-z0-9_.-]+$/.test(group)) throw new ConfigError('--group', `"${group}" may hold only letters, digits, . _ -`);
    this.ns = client.namespace(`/doctor-fleet/${group}/`);
  }

  lease(ttlS: number): Lease {
    return this.ns.lease(ttlS, { autoKeepAlive: true });
  }

  async putMember(lease: Lease, record: MemberRecord): Promise<void> {
    await lease.put(`members/${record.id}`).value(JSON.stringify(record));
  }

  /**
   * Writes members/<id> on the lease unless another agent holds that id: false when one does. The key
   * of this same process from before etcd went away (same incarnation, an old lease that etcd kept
   * alive across its restart) is taken over at once.
   */
  async claimMember(lease: Lease, record: MemberRecord): Promise<boolean> {
    const key = `members/${record.id}`;
    const id = await lease.grant();
    const put = this.ns.put(key).value(JSON.stringify(record)).lease(id);
    const r = await this.ns.if(key, 'Create', '==', 0).then(put).commit();
    if (r.succeeded) return true;
    const held = await this.ns.get(key).string();
    if (held === null) return false;
    const theirs = JSON.parse(held) as MemberRecord;
    if (theirs.incarnation !== record.incarnation) return false;
    const again = await this.ns.if(key, 'Value', '==', held).then(this.ns.put(key).value(JSON.stringify(record)).lease(id)).commit();
    return again.succeeded;
  }

  async members(): Promise<Map<string, MemberRecord>> {
    const all = await this.ns.getAll().prefix('members/').strings();
    return new Map(Object.entries(all).map(([k, v]) => [k.slice('members/'.length), JSON.parse(v) as MemberRecord]));
  }

  async downs(): Promise<Map<string, DownRecord>> {
    const all = await this.ns.getAll().prefix('down/').strings();
    return new Map(Object.entries(all).map(([k, v]) => [k.slice('down/'.length), JSON.parse(v) as DownRecord]));
  }

  /** Writes down/<host> unless it exists: true when this call wrote it (the failure is ours to report). */
  async commitDown(record: DownRecord): Promise<boolean> {
    const key = `down/${record.host}`;
    const r = await this.ns.if(key, 'Create', '==', 0).then(this.ns.put(key).value(JSON.stringify(record))).commit();
    return r.succeeded;
  }

  async clearDown(host: string): Promise<void> {
    await this.ns.delete().key(`down/${host}`);
  }

  /**
   * Votes <host> down as <agent> on the lease and reads every vote on it, in one transaction (one round
   * trip): the votes returned include this one and every vote committed before it.
   */
  async vote(lease: Lease, host: string, agent: string, at: number): Promise<string[]> {
    const prefix = `votes/${host}/`;
    const key = `${prefix}${agent}`;
    // etcd's transaction needs a compare: a key's create revision is never below 0, so this one always holds.
    const r = await this.ns.if(key, 'Create', '>', -1)
      .then(this.ns.put(key).value(JSON.stringify({ at })).lease(lease.grant()), this.ns.getAll().prefix(prefix))
      .commit();
    // The transaction's answer carries the keys whole, the namespace's prefix included (bytes: names may be UTF-8).
    const skip = this.ns.prefix.length + Buffer.byteLength(prefix);
    return (r.responses[1]?.response_range?.kvs ?? []).map((kv) => text(Buffer.from(kv.key as Uint8Array).subarray(skip)));
  }

  async unvote(host: string, agent: string): Promise<void> {
    await this.ns.delete().key(`votes/${host}/${agent}`);
  }

  async voters(host: string): Promise<string[]> {
    const keys = await this.ns.getAll().prefix(`votes/${host}/`).keys();
    return keys.map((k) => k.slice(`votes/${host}/`.length));
  }

  /** One watch over the group: members and down records, as (kind, name, record | undefined on delete). */
  async watch(on: (kind: 'members' | 'down', name: string, value: string | undefined) => void): Promise<Watcher> {
    const route = (kv: IKeyValue, deleted: boolean) => {
      // The namespace hands keys back without its prefix.
      const key = text(kv.key);
      const slash = key.indexOf('/');
      const kind = key.slice(0, slash);
      if (kind === 'members' || kind === 'down') on(kind, key.slice(slash + 1), deleted ? undefined : text(kv.value));
    };
    const w = await this.ns.watch().prefix('').create();
    w.on('put', (kv) => route(kv, false));
    w.on('delete', (kv) => route(kv, true));
    return w;
  }
}

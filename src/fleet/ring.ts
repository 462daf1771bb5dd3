import { createHash } from 'node:crypto';

/** tooz's HashRing.DEFAULT_PARTITION_NUMBER: points each member puts on the ring. */
const TOOZ_PARTITIONS = 32;

/**
 * The consistent hash ring of tooz (`tooz.hashring.HashRing`, md5, 32 partitions per member), point for
 * point, so a fleet of ours splits hosts exactly as a Ceilometer/tooz partitioner with the same members
 * would. A member's points are the md5 of its name repeated 2, 3, … 33 times; a key belongs to the first
 * point above the key's md5 (bisect right), wrapping to the first point, and R replicas are the next
 * distinct members walking clockwise. Digests are compared as hex text: all are 32 lowercase digits, so
 * text order is number order. Pure.
 */
export class HashRing {
  private readonly points: Array<{ at: string; member: string }>;
  readonly members: readonly string[];

  constructor(members: Iterable<string>, readonly partitions = TOOZ_PARTITIONS) {
    const byPoint = new Map<string, string>();
    this.members = [...new Set(members)].sort();
    // tooz fills a dict in set order; a later member overwrites an equal point. md5 collisions between
    // member names do not happen in practice, so the order is immaterial.
    for (const member of this.members) {
      const key = Buffer.from(member, 'utf8');
      const h = createHash('md5').update(key);
      for (let r = 0; r < partitions; r++) {
        h.update(key);
        byPoint.set(h.copy().digest('hex'), member);
      }
    }
    this.points = [...byPoint].map(([at, member]) => ({ at, member })).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  /** The members owning `key` (tooz's get_nodes): `replicas` of them, or every member when fewer. */
  owners(key: string, replicas = 1, ignore: ReadonlySet<string> = new Set()): string[] {
    const candidates = this.members.filter((m) => !ignore.has(m)).length;
    const want = Math.min(replicas, candidates);
    const found: string[] = [];
    if (want <= 0) return found;
    let i = this.partitionOf(createHash('md5').update(key, 'utf8').digest('hex'));
    while (found.length < want) {
      const m = this.points[i]!.member;
      if (!ignore.has(m) && !found.includes(m)) found.push(m);
      i = i + 1 < this.points.length ? i + 1 : 0;
    }
    return found;
  }

  /** Index of the first point strictly above `hash` (bisect.bisect), 0 past the end. */
  private partitionOf(hash: string): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hash < this.points[mid]!.at) hi = mid;
      else lo = mid + 1;
    }
    return lo < this.points.length ? lo : 0;
  }
}

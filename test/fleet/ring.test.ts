import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HashRing } from '../../src/fleet/index.js';
import { toozOwners, type RingCase as Case } from '../helpers/tooz.js';

const ours = (c: Case) => {
  const ring = new HashRing(c.members);
  return c.keys.map((k) => ring.owners(k, c.replicas, new Set(c.ignore)).sort());
};

describe('HashRing is tooz\'s ring (python3-tooz HashRing, side by side)', () => {
  it('assigns 300 lab addresses over 3 agents exactly as tooz does, with 1 and 3 replicas', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `198.18.${100 + (i >> 8)}.${i & 255}`);
    const cases: Case[] = [
      { members: ['agent-1', 'agent-2', 'agent-3'], keys, replicas: 1, ignore: [] },
      { members: ['agent-1', 'agent-2', 'agent-3'], keys, replicas: 3, ignore: [] },
      { members: ['agent-1', 'agent-3'], keys, replicas: 1, ignore: [] },
      { members: ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'], keys, replicas: 2, ignore: ['agent-2'] },
    ];
    const theirs = toozOwners(cases);
    cases.forEach((c, i) => expect(ours(c), `case ${i}`).toEqual(theirs[i]));
    // Every key has exactly one owner, and no agent is left without work.
    const single = ours(cases[0]!);
    expect(single.every((o) => o.length === 1)).toBe(true);
    expect(new Set(single.flat()).size).toBe(3);
  });

  it('agrees with tooz for any member names, keys and replica counts (unicode included)', () => {
    const name = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' });
    const arb = fc.record({
      members: fc.uniqueArray(name, { minLength: 1, maxLength: 6 }),
      keys: fc.array(name, { minLength: 1, maxLength: 20 }),
      replicas: fc.integer({ min: 1, max: 7 }),
    });
    const samples = fc.sample(arb, 60).map((c, i) => ({ ...c, ignore: i % 3 === 0 ? c.members.slice(0, 1) : [] }));
    const theirs = toozOwners(samples);
    samples.forEach((c, i) => expect(ours(c), JSON.stringify(c)).toEqual(theirs[i]));
  });
});

describe('HashRing', () => {
  it('moves only the leaving member\'s keys when a member leaves', () => {
    const keys = Array.from({ length: 500 }, (_, i) => `compute-${i}`);
    const before = new HashRing(['a', 'b', 'c']);
    const after = new HashRing(['a', 'c']);
    for (const k of keys) {
      const [was] = before.owners(k);
      if (was !== 'b') expect(after.owners(k)).toEqual([was]);
    }
  });

  it('owns nothing with no members, and never more replicas than members', () => {
    expect(new HashRing([]).owners('x')).toEqual([]);
    expect(new HashRing(['a', 'b']).owners('x', 5).sort()).toEqual(['a', 'b']);
  });
});

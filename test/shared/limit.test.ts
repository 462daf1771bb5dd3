/** The adaptive limit of calls in flight against an API of unknown capacity, on a simulated API and a fake clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdaptiveLimit, mapAdaptive } from '../../src/shared/index.js';

/**
 * An API with `workers` workers, each call `serviceMs` of work: calls past the workers queue (FIFO), as
 * uwsgi's listen queue does for nova-api. On vitest's fake clock.
 */
function simulatedApi(workers: number, serviceMs: number) {
  const busyUntil = Array<number>(workers).fill(0);
  let inFlight = 0;
  let maxInFlight = 0;
  const call = async (): Promise<void> => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const w = busyUntil.indexOf(Math.min(...busyUntil));
    busyUntil[w] = Math.max(Date.now(), busyUntil[w]!) + serviceMs;
    await new Promise((r) => setTimeout(r, busyUntil[w]! - Date.now()));
    inFlight -= 1;
  };
  return { call, maxInFlight: () => maxInFlight };
}

describe('the adaptive limit', () => {
  describe('against a simulated API', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const run = async (workers: number, calls: number) => {
    const api = simulatedApi(workers, 40);
    const limit = new AdaptiveLimit({ initial: 4, min: 1, max: 64 });
    const done = mapAdaptive(Array.from({ length: calls }, (_, i) => i), limit, () => api.call(), { now: () => Date.now() });
    await vi.runAllTimersAsync();
    const out = await done;
    return { out, limit, api, ms: Date.now() };
  };

  it('against 2 workers it stays near what they serve instead of piling calls up, and loses no time doing so', async () => {
    const { out, limit, api, ms } = await run(2, 200);
    expect(out.every((o) => o.status === 'fulfilled')).toBe(true);
    expect(limit.bestMs).toBe(40);
    // More than a few in flight would only queue behind the two workers.
    expect(api.maxInFlight()).toBeLessThanOrEqual(6);
    expect(limit.peak).toBeLessThanOrEqual(6);
    // The workers were kept busy: 200 calls × 40 ms over 2 workers is 4 s, and it took no longer.
    expect(ms).toBe(4_000);
  });

  it('against 32 workers it grows past its start to use them', async () => {
    const { limit, api, ms } = await run(32, 320);
    expect(limit.peak).toBeGreaterThanOrEqual(24);
    expect(api.maxInFlight()).toBeGreaterThanOrEqual(24);
    // A fixed 4 would take 320 / 4 × 40 ms = 3.2 s.
    expect(ms).toBeLessThan(1_000);
  });
  });

  it('halves on a 429 and still tries every item, giving each outcome in order', async () => {
    const limit = new AdaptiveLimit({ initial: 32, min: 1, max: 64 });
    let n = 0;
    const out = await mapAdaptive([1, 2, 3, 4, 5, 6], limit, async (x) => {
      n += 1;
      if (x === 2) throw Object.assign(new Error('busy'), { status: 429 });
      return x * 10;
    }, { pushedBack: (err) => (err as { status?: number }).status === 429 });
    expect(n).toBe(6);
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : 'rejected'))).toEqual([10, 'rejected', 30, 40, 50, 60]);
    expect(limit.current).toBeLessThan(32);
  });

  it('with retry, tries a pushed-back item again after its delay until it goes through or runs out of attempts', async () => {
    const limit = new AdaptiveLimit({ initial: 1, min: 1, max: 1 });
    const order: string[] = [];
    const refusals = new Map([['a', 2], ['b', 9]]);
    const delays: number[] = [];
    const out = await mapAdaptive(['a', 'b', 'c'], limit, async (x) => {
      order.push(x);
      const left = refusals.get(x) ?? 0;
      if (left > 0) {
        refusals.set(x, left - 1);
        throw Object.assign(new Error(`${x} refused`), { status: 429 });
      }
      return x.toUpperCase();
    }, { pushedBack: (err) => (err as { status?: number }).status === 429, retry: { attempts: 3, delayMs: (n) => (delays.push(n), 1) } });
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['A', 'b refused', 'C']);
    // a refused twice then served; b refused once and on each of its 3 retries, then given up; c once.
    expect(order.filter((x) => x === 'a')).toHaveLength(3);
    expect(order.filter((x) => x === 'b')).toHaveLength(4);
    expect(order.filter((x) => x === 'c')).toHaveLength(1);
    expect(delays.sort()).toEqual([1, 1, 2, 2, 3]);
  });

  it('with retry, an error that is not a push-back is not tried again', async () => {
    const limit = new AdaptiveLimit({ initial: 4, min: 1, max: 4 });
    let n = 0;
    const out = await mapAdaptive([1], limit, async () => {
      n += 1;
      throw Object.assign(new Error('broken'), { status: 500 });
    }, { pushedBack: (err) => (err as { status?: number }).status === 429, retry: { attempts: 3, delayMs: () => 1 } });
    expect(n).toBe(1);
    expect(out[0]!.status).toBe('rejected');
  });

  it('a fixed limit stays fixed, and bad bounds are refused', async () => {
    const limit = new AdaptiveLimit({ initial: 5, min: 5, max: 5 });
    let inFlight = 0;
    let peak = 0;
    await mapAdaptive(Array.from({ length: 40 }, (_, i) => i), limit, async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight -= 1;
    });
    expect(peak).toBe(5);
    expect(() => new AdaptiveLimit({ initial: 0, min: 1, max: 4 })).toThrow(/1 ≤ min ≤ initial ≤ max/);
    expect(await mapAdaptive([], limit, async () => 1)).toEqual([]);
  });
});

/** Medians, the rank test and the verdicts `doctor report --compare` gives. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareTimes, mannWhitney, median, normalCdf, quantile } from '../../src/profiler/stats.js';

/** Two-sided p by enumerating every way to split the pooled values into sets of |a| and |b|. */
function permutationP(a: number[], b: number[]): number {
  const pooled = [...a, ...b];
  const u = (xs: number[], ys: number[]) => xs.reduce((s, x) => s + ys.reduce((t, y) => t + (x > y ? 1 : x === y ? 0.5 : 0), 0), 0);
  const observed = Math.abs(u(a, b) - (a.length * b.length) / 2);
  let extreme = 0;
  let total = 0;
  const pick = (start: number, chosen: number[]) => {
    if (chosen.length === a.length) {
      const xs = chosen.map((i) => pooled[i]!);
      const ys = pooled.filter((_, i) => !chosen.includes(i));
      total += 1;
      if (Math.abs(u(xs, ys) - (a.length * b.length) / 2) >= observed - 1e-9) extreme += 1;
      return;
    }
    for (let i = start; i < pooled.length; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  return extreme / total;
}

/** A seeded generator of skewed times (a shifted exponential), as notification times are. */
function times(seed: number, count: number, baseMs: number, spreadMs: number): number[] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, () => baseMs - spreadMs * Math.log(1 - next()));
}

describe('quantiles', () => {
  it('interpolate between order statistics', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4, 5], 1)).toBe(5);
    expect(quantile([10, 20], 0.95)).toBeCloseTo(19.5);
    expect(median([])).toBeNaN();
  });
});

describe('the Mann–Whitney U test', () => {
  it('gives the exact p of small samples without ties (enumerated)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 11 }), fc.integer({ min: 1, max: 5 }), (values, cut) => {
        const k = Math.min(cut, values.length - 1);
        const a = values.slice(0, k);
        const b = values.slice(k);
        const r = mannWhitney(a, b);
        expect(r.method).toBe('exact');
        expect(r.p).toBeCloseTo(permutationP(a, b), 10);
        expect(mannWhitney(b, a).p).toBeCloseTo(r.p, 12); // symmetric
      }),
      { numRuns: 150 },
    );
  });

  it('approximates it with ties and larger samples, within a few points of the enumerated p', () => {
    const a = [5, 5, 6, 7, 7, 7, 8, 9, 9, 10];
    const b = [6, 7, 8, 8, 9, 10, 10, 11, 12, 12];
    const r = mannWhitney(a, b);
    expect(r.method).toBe('normal');
    expect(Math.abs(r.p - permutationP(a, b))).toBeLessThan(0.03);
  });

  it('knows the textbook cases', () => {
    expect(mannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])).toEqual({ u: 0, p: 2 / 252, method: 'exact' });
    expect(mannWhitney([1, 2, 3], [1.5, 2.5, 3.5]).p).toBeCloseTo(0.7, 12);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
  });
});

describe('B against A', () => {
  it('says slower or faster only for a real and large enough difference', () => {
    const a = times(1, 20, 100, 10);
    expect(compareTimes(a, a.map((x) => x + 50))).toMatchObject({ verdict: 'slower', deltaMs: expect.closeTo(50, 6) });
    expect(compareTimes(a, a.map((x) => x - 30))).toMatchObject({ verdict: 'faster', deltaMs: expect.closeTo(-30, 6) });
    // Significant but small (1 ms on a median of about 107 ms): no difference worth naming.
    expect(compareTimes(a, a.map((x) => x + 1)).verdict).toBe('no difference');
  });

  it('says no difference for samples of one distribution, at the stated confidence', () => {
    let differences = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const verdict = compareTimes(times(seed, 20, 100, 20), times(seed + 1_000, 20, 100, 20)).verdict;
      if (verdict !== 'no difference') differences += 1;
    }
    // At 95 %, about 5 % of such pairs differ by chance; the effect floor removes some of those.
    expect(differences).toBeLessThanOrEqual(10);
  });

  it('needs three values on each side', () => {
    expect(compareTimes([1, 2], [10, 20, 30])).toMatchObject({ verdict: 'too few', n: [2, 3] });
  });
});

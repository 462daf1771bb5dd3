/**
 * Comparing two sets of times: medians and a rank test (Mann–Whitney U), which assumes nothing of
 * the times' distribution (notification times are skewed, with long tails). "Faster" or "slower"
 * is said only when the difference is both unlikely to be chance at the stated confidence and large
 * enough to matter: at least `minEffectMs` and `minEffectFraction` of A's median.
 */

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics (R's type 7). */
export function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!);
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

export interface RankTest {
  /** U of A: how many (a, b) pairs have a > b (ties count half). */
  u: number;
  /** Two-sided p-value: how likely a difference at least this large is when A and B come from one distribution. */
  p: number;
  /** exact: from the distribution of U (no ties, both sets up to 25); normal: its approximation, corrected for ties. */
  method: 'exact' | 'normal';
}

/** The Mann–Whitney U test of A against B, two-sided. */
export function mannWhitney(a: readonly number[], b: readonly number[]): RankTest {
  const m = a.length;
  const n = b.length;
  if (!m || !n) return { u: Number.NaN, p: Number.NaN, method: 'normal' };
  // Ranks of the pooled values, ties given their mean rank.
  const pooled = [...a.map((v) => ({ v, inA: true })), ...b.map((v) => ({ v, inA: false }))].sort((x, y) => x.v - y.v);
  let rankSumA = 0;
  let tieTerm = 0;
  let ties = false;
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j + 1 < pooled.length && pooled[j + 1]!.v === pooled[i]!.v) j++;
    const t = j - i + 1;
    if (t > 1) {
      ties = true;
      tieTerm += t ** 3 - t;
    }
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (pooled[k]!.inA) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (m * (m + 1)) / 2;
  if (!ties && m <= 25 && n <= 25) return { u, p: exactP(u, m, n), method: 'exact' };
  const mean = (m * n) / 2;
  const N = m + n;
  const variance = (m * n / 12) * (N + 1 - tieTerm / (N * (N - 1)));
  if (variance <= 0) return { u, p: 1, method: 'normal' };
  const z = Math.max(0, Math.abs(u - mean) - 0.5) / Math.sqrt(variance);
  return { u, p: Math.min(1, 2 * (1 - normalCdf(z))), method: 'normal' };
}

/** Two-sided p from the exact distribution of U: the count of orderings of m a's and n b's with each U. */
function exactP(u: number, m: number, n: number): number {
  // f[i][j][k]: orderings of i a's and j b's with U = k. The largest element is either an a (it beats
  // all j b's: U grows by j) or a b (U unchanged).
  const f: number[][][] = Array.from({ length: m + 1 }, () => new Array<number[]>(n + 1));
  for (let i = 0; i <= m; i++) {
    for (let j = 0; j <= n; j++) {
      if (i === 0 || j === 0) {
        f[i]![j] = [1];
        continue;
      }
      const c = new Array<number>(i * j + 1).fill(0);
      f[i - 1]![j]!.forEach((x, k) => (c[k + j]! += x));
      f[i]![j - 1]!.forEach((x, k) => (c[k]! += x));
      f[i]![j] = c;
    }
  }
  const counts = f[m]![n]!;
  const total = counts.reduce((s, x) => s + x, 0);
  let tail = 0;
  for (let k = 0; k <= Math.min(u, m * n - u); k++) tail += counts[k]!;
  return Math.min(1, (2 * tail) / total);
}

/** Φ(z), the standard normal CDF (Abramowitz and Stegun 7.1.26 for erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t) * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface Comparison {
  /** B against A. */
  verdict: 'faster' | 'slower' | 'no difference' | 'too few';
  medianA: number;
  medianB: number;
  /** medianB − medianA, ms. */
  deltaMs: number;
  p: number;
  n: [number, number];
  method?: RankTest['method'];
}

export interface CompareRule {
  /** Default 0.95. */
  confidence?: number;
  /** A difference counts from this many ms (default 2)… */
  minEffectMs?: number;
  /** …and this share of A's median (default 0.1). */
  minEffectFraction?: number;
}

/** Says whether B is faster, slower or no different from A (each at least 3 values; otherwise "too few"). */
export function compareTimes(a: readonly number[], b: readonly number[], rule: CompareRule = {}): Comparison {
  const medianA = median(a);
  const medianB = median(b);
  const base = { medianA, medianB, deltaMs: medianB - medianA, n: [a.length, b.length] as [number, number] };
  if (a.length < 3 || b.length < 3) return { ...base, verdict: 'too few', p: Number.NaN };
  const test = mannWhitney(a, b);
  const alpha = 1 - (rule.confidence ?? 0.95);
  const floor = Math.max(rule.minEffectMs ?? 2, (rule.minEffectFraction ?? 0.1) * Math.abs(medianA));
  const real = test.p < alpha && Math.abs(base.deltaMs) >= floor;
  return { ...base, verdict: real ? (base.deltaMs > 0 ? 'slower' : 'faster') : 'no difference', p: test.p, method: test.method };
}

/**
 * How many calls to keep in flight against an API whose capacity is not known, as TCP Vegas sizes a
 * window: from the best latency seen (the API's own service time) and each call's latency it estimates
 * how many calls wait in the API's queue (limit × (1 − best / latency)); one more in flight while fewer
 * than `alpha` wait (its workers may be idle between our calls), one fewer when more than `beta` wait
 * (calls only pile up), half when the API pushes back (429, 503), at most one decrease per round trip.
 * A fixed number is either too few for a large cloud or a pile-up on a small one (2 nova-api workers
 * serve 2 at a time; the rest only queue).
 */
export interface AdaptiveLimitOptions {
  initial: number;
  min: number;
  max: number;
  /** Calls waiting in the API's queue below which the limit grows (default 3) … */
  alpha?: number;
  /** … and above which it shrinks (default 6). */
  beta?: number;
}

export class AdaptiveLimit {
  private value: number;
  private best = Infinity;
  private peakValue: number;
  private holdUntil = -Infinity;
  private readonly alpha: number;
  private readonly beta: number;

  constructor(private readonly opts: AdaptiveLimitOptions) {
    if (!(opts.min >= 1 && opts.max >= opts.min && opts.initial >= opts.min && opts.initial <= opts.max)) {
      throw new RangeError(`an adaptive limit needs 1 ≤ min ≤ initial ≤ max (got ${opts.min}, ${opts.initial}, ${opts.max})`);
    }
    this.value = opts.initial;
    this.peakValue = opts.initial;
    this.alpha = opts.alpha ?? 3;
    this.beta = opts.beta ?? 6;
  }

  /** Calls that may be in flight now. */
  get current(): number {
    return Math.floor(this.value);
  }

  /** The highest limit since the last resetPeak() (or since it was made). */
  get peak(): number {
    return Math.floor(this.peakValue);
  }

  resetPeak(): void {
    this.peakValue = this.value;
  }

  /** The best latency seen (ms), undefined before the first sample. */
  get bestMs(): number | undefined {
    return Number.isFinite(this.best) ? this.best : undefined;
  }

  /** One call done at `at` (ms, any clock): its latency, and whether the API pushed back (429, 503). */
  sample(latencyMs: number, pushedBack = false, at = performance.now()): void {
    const { min, max } = this.opts;
    const decrease = (to: number) => {
      // The calls already queued when it was decided say the same thing again: once per round trip.
      if (at < this.holdUntil) return;
      this.value = Math.max(min, to);
      this.holdUntil = at + latencyMs;
    };
    if (pushedBack) return decrease(this.value / 2);
    this.best = Math.min(this.best, latencyMs);
    const queued = this.value * (1 - this.best / Math.max(latencyMs, this.best));
    if (queued < this.alpha) this.value = Math.min(max, this.value + 1);
    else if (queued > this.beta) decrease(this.value - 1);
    this.peakValue = Math.max(this.peakValue, this.value);
  }
}

/**
 * `fn` over every item with at most `limit.current` calls in flight, the limit fed with each call's
 * latency; a failure `pushedBack(err)` calls the API's "too much" (429, 503) halves it, and with `retry`
 * that item is tried again after `retry.delayMs(attempt)` (first before any item not yet started), up to
 * `retry.attempts` more times: the API said it did not serve the call. Every item is tried whatever the
 * others gave: the outcomes in item order, as Promise.allSettled gives them.
 */
export async function mapAdaptive<T, R>(
  items: T[], limit: AdaptiveLimit, fn: (item: T, index: number) => Promise<R>,
  opts: { now?: () => number; pushedBack?: (err: unknown) => boolean; retry?: { attempts: number; delayMs: (attempt: number) => number } } = {},
): Promise<Array<PromiseSettledResult<R>>> {
  const now = opts.now ?? (() => performance.now());
  const results = new Array<PromiseSettledResult<R>>(items.length);
  const tries = new Array<number>(items.length).fill(0);
  const again: number[] = [];
  let next = 0;
  let active = 0;
  let waiting = 0;
  await new Promise<void>((resolve) => {
    const idle = () => next >= items.length && active === 0 && waiting === 0 && again.length === 0;
    const pump = () => {
      while ((again.length || next < items.length) && active < limit.current) {
        const i = again.length ? again.shift()! : next++;
        active += 1;
        tries[i]! += 1;
        const t0 = now();
        fn(items[i]!, i).then(
          (value) => {
            results[i] = { status: 'fulfilled', value };
            const t = now();
            limit.sample(t - t0, false, t);
          },
          (reason: unknown) => {
            const t = now();
            const pushedBack = opts.pushedBack?.(reason) ?? false;
            limit.sample(t - t0, pushedBack, t);
            if (pushedBack && opts.retry && tries[i]! <= opts.retry.attempts) {
              waiting += 1;
              setTimeout(() => {
                waiting -= 1;
                again.push(i);
                pump();
              }, opts.retry.delayMs(tries[i]!));
              return;
            }
            results[i] = { status: 'rejected', reason };
          },
        ).finally(() => {
          active -= 1;
          if (idle()) resolve();
          else pump();
        });
      }
      if (idle()) resolve();
    };
    pump();
  });
  return results;
}

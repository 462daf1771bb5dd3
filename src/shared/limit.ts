/**
 * How many calls to keep in flight against an API whose capacity is not known, as TCP finds a path's:
 * while its latency stays near the best it has shown (no queueing behind its workers) one more per call
 * answered until calls first queue, then one more per round trip; 10 % fewer when calls queue (latency
 * past 1.5 × the best), half when it pushes back (429, 503), at most one decrease per round trip. A fixed number is either
 * too few for a large cloud or a pile-up on a small one (2 nova-api workers queue every call past 2).
 */
export interface AdaptiveLimitOptions {
  initial: number;
  min: number;
  max: number;
  /** Latency up to this multiple of the best seen counts as "not queueing" (default 1.5). */
  tolerance?: number;
}

export class AdaptiveLimit {
  private value: number;
  private best = Infinity;
  private peakValue: number;
  private readonly tolerance: number;
  /** No call has queued yet: grow fast to find the API's capacity. */
  private probing = true;
  private holdUntil = -Infinity;

  constructor(private readonly opts: AdaptiveLimitOptions) {
    if (!(opts.min >= 1 && opts.max >= opts.min && opts.initial >= opts.min && opts.initial <= opts.max)) {
      throw new RangeError(`an adaptive limit needs 1 ≤ min ≤ initial ≤ max (got ${opts.min}, ${opts.initial}, ${opts.max})`);
    }
    this.value = opts.initial;
    this.peakValue = opts.initial;
    this.tolerance = opts.tolerance ?? 1.5;
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

  /**
   * One call done at `at` (ms, any clock): its latency, and whether the API pushed back (429, 503). One
   * decrease per round trip: the calls already queued when it was decided say the same thing again.
   */
  sample(latencyMs: number, pushedBack = false, at = performance.now()): void {
    const { min, max } = this.opts;
    const decrease = (factor: number) => {
      this.probing = false;
      if (at < this.holdUntil) return;
      this.value = Math.max(min, this.value * factor);
      this.holdUntil = at + latencyMs;
    };
    if (pushedBack) return decrease(0.5);
    this.best = Math.min(this.best, latencyMs);
    if (latencyMs <= this.best * this.tolerance) {
      // Until calls first queue: one more per call answered (doubling per round trip); after, one more per round trip.
      this.value = Math.min(max, this.value + (this.probing ? 1 : 1 / this.value));
    } else {
      decrease(0.9);
    }
    this.peakValue = Math.max(this.peakValue, this.value);
  }
}

/**
 * `fn` over every item with at most `limit.current` calls in flight, the limit fed with each call's
 * latency; a failure `pushedBack(err)` calls the API's "too much" (429, 503) halves it. Every item is
 * tried whatever the others gave: the outcomes in item order, as Promise.allSettled gives them.
 */
export async function mapAdaptive<T, R>(
  items: T[], limit: AdaptiveLimit, fn: (item: T, index: number) => Promise<R>, opts: { now?: () => number; pushedBack?: (err: unknown) => boolean } = {},
): Promise<Array<PromiseSettledResult<R>>> {
  const now = opts.now ?? (() => performance.now());
  const results = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  let active = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (next < items.length && active < limit.current) {
        const i = next++;
        active += 1;
        const t0 = now();
        fn(items[i]!, i).then(
          (value) => {
            results[i] = { status: 'fulfilled', value };
            const t = now();
            limit.sample(t - t0, false, t);
          },
          (reason: unknown) => {
            results[i] = { status: 'rejected', reason };
            const t = now();
            limit.sample(t - t0, opts.pushedBack?.(reason) ?? false, t);
          },
        ).finally(() => {
          active -= 1;
          if (next >= items.length && active === 0) resolve();
          else pump();
        });
      }
      if (next >= items.length && active === 0) resolve();
    };
    pump();
  });
  return results;
}

/**
 * Wall-clock instants with sub-millisecond resolution. `Date.now()` has 1 ms
 * granularity; the measurement needs better, and must stay on one clock.
 */
export type Clock = () => number;

const origin = performance.timeOrigin;

/** Milliseconds since the epoch, fractional. */
export const preciseNow: Clock = () => origin + performance.now();

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

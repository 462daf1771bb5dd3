/**
 * Wall-clock instants with sub-millisecond resolution. `Date.now()` has 1 ms
 * granularity; the measurement needs better, and must stay on one clock.
 */
import { TimeoutError } from './errors.js';
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

/**
 * `p`, or a TimeoutError naming `what` after `ms`, or the signal's reason when it aborts first,
 * whichever comes first. The timer and the listener go as soon as one of them wins, so nothing
 * keeps the process alive and no rejection is left for nobody to handle.
 */
export function within<T>(p: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      done();
      reject(new TimeoutError(`${what} within ${ms / 1000} s`, ms));
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: unknown) => {
        done();
        reject(e as Error);
      },
    );
  });
}

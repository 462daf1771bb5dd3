/**
 * Per-host liveness: unknown → up → suspect → down. A host must have answered
 * once before it can be declared down (no alarm for a host that was never
 * reachable, e.g. a wrong address); `k` consecutive losses make it down; any
 * reply makes it up again. Pure: the monitor feeds it replies and losses.
 */
export type HostState = 'unknown' | 'up' | 'suspect' | 'down';

export type Transition = { to: 'up'; from: HostState } | { to: 'down'; from: HostState; losses: number };

export class HostTracker {
  state: HostState = 'unknown';
  consecutiveLosses = 0;

  /**
   * `initial` is where a host starts: 'unknown' for a host never seen; a monitor taking a host over from
   * another (a fleet's rebalance) starts it 'up' when the other saw it answer, or 'down' when its failure
   * is already known, so a host that fails during the hand-over is still declared down, and only once.
   */
  constructor(readonly k: number, initial: 'unknown' | 'up' | 'down' = 'unknown') {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a whole number ≥ 1 (got ${k})`);
    this.state = initial;
    if (initial === 'down') this.consecutiveLosses = k;
  }

  reply(): Transition | undefined {
    const from = this.state;
    this.consecutiveLosses = 0;
    this.state = 'up';
    return from === 'up' || from === 'suspect' ? undefined : { to: 'up', from };
  }

  loss(): Transition | undefined {
    this.consecutiveLosses += 1;
    if (this.state === 'unknown' || this.state === 'down') return undefined;
    if (this.consecutiveLosses >= this.k) {
      const from = this.state;
      this.state = 'down';
      return { to: 'down', from, losses: this.consecutiveLosses };
    }
    this.state = 'suspect';
    return undefined;
  }
}

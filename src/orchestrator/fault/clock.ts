import { type Clock, FaultInjectionError, preciseNow } from '../../shared/index.js';
import type { SshSession } from './ssh.js';

/** A remote host's clock against the harness's: remote − harness, and what the measurement cannot rule out. */
export interface ClockOffset {
  offsetMs: number;
  /** Half the best round trip: the remote instant lies somewhere inside it. */
  uncertaintyMs: number;
  samples: number;
  bestRoundTripMs: number;
}

/**
 * Reads the host's `date +%s.%N` (the clock its fault script stamps with)
 * `samples` times through one shell on the host, each between two readings of the
 * harness's clock. The remote instant lies inside [before, after], so taking
 * the middle is wrong by at most half the round trip: the sample with the
 * shortest round trip gives the offset and its bound (as NTP does).
 */
export async function measureClockOffset(session: Pick<SshSession, 'interact'>, samples = 8, now: Clock = preciseNow): Promise<ClockOffset> {
  // One shell on the host answers each line with its clock: a round trip per sample, not a login.
  const probe = await session.interact('while read -r _; do date +%s.%N; done');
  try {
    return await clockOffsetFrom(() => probe.ask('t'), samples, now);
  } finally {
    probe.close();
  }
}

/**
 * The same from any way of reading the remote `date +%s.%N` (one exec per sample on a session that has
 * no interactive shell: a wider round trip, so a wider bound, honestly stated).
 */
export async function clockOffsetFrom(read: () => Promise<string>, samples = 8, now: Clock = preciseNow): Promise<ClockOffset> {
  let best: { offset: number; rtt: number } | undefined;
  for (let i = 0; i < samples + 1; i++) {
    const before = now();
    const out = await read();
    const after = now();
    const remote = parseEpoch(out);
    if (remote === undefined) throw new FaultInjectionError(`reading the host's clock failed: "date +%s.%N" printed ${JSON.stringify(out.trim())}`);
    if (i === 0) continue; // the first answer pays for the shell's (or channel's) start
    const rtt = after - before;
    if (!best || rtt < best.rtt) best = { offset: remote - (before + rtt / 2), rtt };
  }
  return { offsetMs: round(best!.offset), uncertaintyMs: round(best!.rtt / 2), samples, bestRoundTripMs: round(best!.rtt) };
}

/** "1795252264.467532546" → epoch ms with the sub-millisecond part kept (as far as a double can). */
function parseEpoch(text: string): number | undefined {
  const m = /^(\d+)\.(\d{1,9})\s*$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * 1000 + Number(`0.${m[2]}`) * 1000;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Cloud checkpoints from the services' own logs (the profiler design's "timestamps can be collected from
 * … log files"): oslo.log lines start `YYYY-MM-DD HH:MM:SS.mmm PID LEVEL logger [context] message`, in the
 * node's local time, to the millisecond.
 */
import type { RemoteInstant } from './profile.js';

/** Aodh's listener, at INFO, as it fires an event alarm: checkpoint 7 (the event evaluated, the alarm's conditions met). */
const TRIGGERED = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) \d+ INFO aodh\.evaluator\.event \[[^\]]*\] Triggering the alarm ([0-9a-f-]{36}) by event/;

/**
 * When Aodh's listener triggered each alarm, from its log. `utcOffset` is the node's `date +%z` (+0100);
 * `clock` is the node's clock against ours (offset, uncertainty) when known. The log's milliseconds are
 * truncated: the instant is up to 1 ms later than written, which the uncertainty includes.
 */
export function triggeredFromAodhLog(text: string, utcOffset: string, clock: { name: string; offsetMs?: number; uncertaintyMs?: number }): Map<string, RemoteInstant> {
  const tz = /^([+-])(\d\d)(\d\d)$/.exec(utcOffset.trim());
  const zone = tz ? `${tz[1]}${tz[2]}:${tz[3]}` : 'Z';
  const out = new Map<string, RemoteInstant>();
  for (const line of text.split('\n')) {
    const m = TRIGGERED.exec(line);
    if (!m || out.has(m[3]!)) continue; // the first trigger counts
    const at = Date.parse(`${m[1]}T${m[2]}${zone}`);
    if (Number.isNaN(at)) continue;
    out.set(m[3]!, {
      at: Math.round((at + 0.5 - (clock.offsetMs ?? 0)) * 1000) / 1000, source: 'aodh-listener log (Triggering the alarm)', clock: clock.name,
      ...(clock.uncertaintyMs !== undefined ? { uncertaintyMs: clock.uncertaintyMs + 0.5 } : {}),
    });
  }
  return out;
}

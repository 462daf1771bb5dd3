/**
 * Cloud checkpoints from the services' own logs (the profiler design's "timestamps can be collected from
 * … log files"): oslo.log lines start `YYYY-MM-DD HH:MM:SS.mmm PID LEVEL logger [context] message`, in the
 * node's local time, to the millisecond (truncated: an instant is up to 1 ms later than written, which
 * each uncertainty includes).
 *
 * 5 and 6 are the lines oslo.messaging's AMQP driver writes at DEBUG as a service sends a notification
 * (`CAST unique_id: U NOTIFY exchange 'nova' topic 'notifications.info'`) and as one arrives (`received
 * message with unique_id: U`): the same U on both sides ties Ceilometer's copy to Nova's send, and the
 * request id in nova-api's context ties the send to the VM whose reset request it served.
 */
import type { RemoteInstant } from './profile.js';

/** A clock as the parsers correct by: the node's against ours, when known. */
export interface LogClock {
  name: string;
  offsetMs?: number;
  uncertaintyMs?: number;
}

interface OsloLine {
  /** Epoch ms as written (node's clock). */
  at: number;
  pid: string;
  level: string;
  logger: string;
  context: string;
  message: string;
}

const LINE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) (\d+) ([A-Z]+) (\S+) \[([^\]]*)\] (.*)$/;
const CAST = /^CAST unique_id: (\w+) NOTIFY exchange '[^']*' topic '([^']+)'/;
const RECEIVED = /^received message with unique_id: (\w+)/;
const RESET_REQUEST = /"POST \S*\/servers\/([0-9a-f-]{36})\/action"/;
const TRIGGERED = /^Triggering the alarm ([0-9a-f-]{36}) by event/;
/** The oslo.messaging logger whose DEBUG lines mark each message a service sends (CAST … NOTIFY) and receives. */
export const AMQP_LOGGER = 'oslo_messaging._drivers.amqpdriver';


/** `date +%z` (+0100) → an ISO zone (+01:00); anything else is UTC. */
function isoZone(utcOffset: string): string {
  const tz = /^([+-])(\d\d)(\d\d)$/.exec(utcOffset.trim());
  return tz ? `${tz[1]}${tz[2]}:${tz[3]}` : 'Z';
}

function* osloLines(text: string, utcOffset: string): Generator<OsloLine> {
  const zone = isoZone(utcOffset);
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const at = Date.parse(`${m[1]}T${m[2]}${zone}`);
    if (!Number.isNaN(at)) yield { at, pid: m[3]!, level: m[4]!, logger: m[5]!, context: m[6]!, message: m[7]! };
  }
}

/** A written stamp on our clock: the middle of its millisecond, less the node's offset. */
function onOurClock(writtenAt: number, source: string, clock: LogClock, extraMs = 0): RemoteInstant {
  return {
    at: Math.round((writtenAt + 0.5 - (clock.offsetMs ?? 0)) * 1000) / 1000, source, clock: clock.name,
    ...(clock.uncertaintyMs !== undefined ? { uncertaintyMs: Math.round((clock.uncertaintyMs + 0.5 + extraMs) * 1000) / 1000 } : {}),
  };
}

/** oslo.context's `[global_request_id request_id user …]` (or the older `[request_id user …]`): the request's own id. */
function requestId(context: string): string | undefined {
  const [first, second] = context.split(' ');
  if (second?.startsWith('req-')) return second;
  return first?.startsWith('req-') ? first : undefined;
}

/** 7: when Aodh's listener triggered each alarm (INFO), the first trigger of each. */
export function triggeredFromAodhLog(text: string, utcOffset: string, clock: LogClock): Map<string, RemoteInstant> {
  const out = new Map<string, RemoteInstant>();
  for (const l of osloLines(text, utcOffset)) {
    const m = l.level === 'INFO' && l.logger === 'aodh.evaluator.event' ? TRIGGERED.exec(l.message) : null;
    if (m && !out.has(m[1]!)) out.set(m[1]!, onOurClock(l.at, 'aodh-listener log (Triggering the alarm)', clock));
  }
  return out;
}

/**
 * 5: when nova-api sent each VM's instance update, from its log: the first notification CAST (not the
 * versioned topic) inside the VM's reset request (`POST …/servers/<id>/action`, matched by request id).
 * Also the message's unique id, which the notification agent logs as it receives it.
 */
export function notifiedFromNovaApiLog(text: string, utcOffset: string, clock: LogClock, vmIds: ReadonlySet<string>): Map<string, { instant: RemoteInstant; uniqueId: string }> {
  const casts = new Map<string, { at: number; uniqueId: string }>();
  const requests = new Map<string, string>(); // request id → VM
  for (const l of osloLines(text, utcOffset)) {
    const req = requestId(l.context);
    if (!req) continue;
    if (l.logger === AMQP_LOGGER) {
      const m = CAST.exec(l.message);
      if (m && !m[2]!.startsWith('versioned_') && !casts.has(req)) casts.set(req, { at: l.at, uniqueId: m[1]! });
    } else {
      const m = RESET_REQUEST.exec(l.message);
      if (m && vmIds.has(m[1]!)) requests.set(req, m[1]!);
    }
  }
  const out = new Map<string, { instant: RemoteInstant; uniqueId: string }>();
  for (const [req, vmId] of requests) {
    const cast = casts.get(req);
    if (!cast || (out.get(vmId)?.instant.at ?? Infinity) <= cast.at) continue;
    out.set(vmId, { instant: onOurClock(cast.at, 'nova-api log (CAST … NOTIFY, oslo.messaging at DEBUG)', clock), uniqueId: cast.uniqueId });
  }
  return out;
}

/** A message the agent received but never published is given up after this long (Ceilometer takes milliseconds). */
const STALE_MS = 2000;

/**
 * 6: when Ceilometer's notification agent published the event made of each VM's notification, from its
 * log: the agent logs the unique id it receives but not which publish carries it, so within one process
 * the publishes on Aodh's topic are matched to the messages received in order (Ceilometer turns one
 * notification into one event per publisher). Where several messages were in the agent at once, a
 * publish could be any of theirs: the uncertainty then spans all of those publishes. By the unique id of
 * each `wanted` message received: which VM a message stood for is the caller's to say.
 */
export function publishedFromCeilometerLog(
  text: string, utcOffset: string, clock: LogClock, wanted: ReadonlySet<string>, topicPrefix: string,
): Map<string, RemoteInstant> {
  const out = new Map<string, RemoteInstant>();
  const source = `ceilometer notification agent log (CAST … NOTIFY topic '${topicPrefix}…', oslo.messaging at DEBUG)`;
  const byPid = new Map<string, { pending: Array<{ uniqueId: string; at: number }>; busy: Array<{ uniqueId: string; at: number }>; overlapped: boolean }>();
  const settle = (busy: Array<{ uniqueId: string; at: number }>, overlapped: boolean) => {
    const span = overlapped && busy.length ? busy.at(-1)!.at - busy[0]!.at : 0;
    for (const p of busy) if (wanted.has(p.uniqueId) && !out.has(p.uniqueId)) out.set(p.uniqueId, onOurClock(p.at, source, clock, span));
  };
  for (const l of osloLines(text, utcOffset)) {
    if (l.logger !== AMQP_LOGGER) continue;
    let st = byPid.get(l.pid);
    if (!st) byPid.set(l.pid, (st = { pending: [], busy: [], overlapped: false }));
    const received = RECEIVED.exec(l.message);
    if (received) {
      st.pending = st.pending.filter((p) => l.at - p.at <= STALE_MS);
      if (st.pending.length) st.overlapped = true;
      st.pending.push({ uniqueId: received[1]!, at: l.at });
      continue;
    }
    const cast = CAST.exec(l.message);
    if (!cast || !cast[2]!.startsWith(topicPrefix)) continue;
    const first = st.pending.shift();
    if (!first) continue;
    st.busy.push({ uniqueId: first.uniqueId, at: l.at });
    if (!st.pending.length) {
      settle(st.busy, st.overlapped);
      st.busy = [];
      st.overlapped = false;
    }
  }
  for (const st of byPid.values()) settle(st.busy, st.overlapped);
  return out;
}

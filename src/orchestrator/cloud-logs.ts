/**
 * Checkpoints 5–7 of a real cloud from its services' logs on the controllers (the layout says where each
 * lives): one SSH round trip per controller for its time zone and the lines that mark them, the node's
 * clock measured against ours first unless it is this machine's.
 */
import { shellQuote, type Logger } from '../shared/index.js';
import {
  AMQP_LOGGER, notifiedFromNovaApiLog, publishedFromCeilometerLog, SHORTCUT_SOURCE, triggeredFromAodhLog, type ClockReading, type CloudInstants, type LogClock, type RemoteInstant,
} from '../profiler/index.js';
import { ALARM_SINK, asRoot, type ControllerNode, type ControllerSession, type ServiceLogs } from './controller/index.js';
import { clockOffsetFrom } from './fault/clock.js';

/** The lines each log contributes (grep -E), newest last; a cap keeps a busy cloud's log from flooding the run. */
const PATTERNS: Record<keyof ServiceLogs, string> = {
  novaApi: 'CAST unique_id|/servers/[0-9a-f-]+/action',
  ceilometerNotification: 'received message with unique_id|CAST unique_id',
  aodhListener: 'Triggering the alarm',
};
const TAIL_LINES = 50_000;
/** Aodh's listener listens on this topic; Ceilometer's notifier publishes on it with the priority appended. */
const AODH_TOPIC = `${new URL(ALARM_SINK).searchParams.get('topic')}.`;

export interface CloudFromLogs {
  instants: Map<string, CloudInstants>;
  /** Per checkpoint, why it is missing for the VMs it is missing for. */
  missing: Partial<Record<5 | 6 | 7, string>>;
  clocks: ClockReading[];
}

export async function cloudFromLogs(opts: {
  logs: ServiceLogs;
  nodes: ControllerNode[];
  vms: Array<{ vmId: string; alarmId: string }>;
  /** Lab controllers stamp with this machine's clock. */
  sharedClock: boolean;
  session: (node: ControllerNode) => Promise<ControllerSession>;
  log: Logger;
  /** The shortcut's messages (unique id → VM, when this machine published it): Ceilometer may publish one of those first. */
  shortcut?: ReadonlyMap<string, { vmId: string; sentAt: number }>;
}): Promise<CloudFromLogs> {
  const { logs, vms } = opts;
  const keys = (Object.keys(PATTERNS) as Array<keyof ServiceLogs>).filter((k) => logs[k]);
  const vmIds = new Set(vms.map((v) => v.vmId));
  const vmOfAlarm = new Map(vms.map((v) => [v.alarmId, v.vmId]));
  const found = { 5: new Map<string, RemoteInstant>(), 6: new Map<string, RemoteInstant>(), 7: new Map<string, RemoteInstant>() };
  const problems: string[] = [];
  const clocks: ClockReading[] = [];
  const earliest = (into: Map<string, RemoteInstant>, vmId: string, at: RemoteInstant) => {
    const before = into.get(vmId);
    if (!before || at.at < before.at) into.set(vmId, at);
  };
  const read: Array<{ zone: string; clock: LogClock; sections: Map<string, string> }> = [];
  await Promise.all(opts.nodes.map(async (node) => {
    let raw: ControllerSession | undefined;
    try {
      raw = await opts.session(node);
      let clock: LogClock = { name: 'this machine', offsetMs: 0, uncertaintyMs: 0 };
      if (!opts.sharedClock) {
        clock = { name: node.name };
        try {
          // Each sample one exec on the session: the bound is half the quickest.
          const c = await clockOffsetFrom(async () => (await raw!.exec('date +%s.%N', 10_000)).stdout, 5);
          clock = { name: node.name, offsetMs: c.offsetMs, uncertaintyMs: c.uncertaintyMs };
          clocks.push({ clock: node.name, offsetMs: c.offsetMs, uncertaintyMs: c.uncertaintyMs, method: `best of ${c.samples} SSH commands (${c.bestRoundTripMs} ms): ± half of it` });
        } catch (err) {
          opts.log.warn({ node: node.name, err: (err as Error).message }, 'could not measure the controller\'s clock; its log instants stay uncorrected');
        }
      }
      const script = ['date +%z', ...keys.map((k) => {
        const path = shellQuote(logs[k]!);
        return `echo '@@ ${k}'; if [ -r ${path} ]; then grep -hE -- ${shellQuote(PATTERNS[k])} ${path} | tail -n ${TAIL_LINES}; else echo '@@missing'; fi`;
      })].join('; ');
      const r = await asRoot(raw, node.ssh.target.username).exec(script, 60_000);
      const [zone = '', ...rest] = r.stdout.split('\n@@ ');
      const sections = new Map(rest.map((s) => {
        const nl = s.indexOf('\n');
        return [nl < 0 ? s : s.slice(0, nl), nl < 0 ? '' : s.slice(nl + 1)] as const;
      }));
      for (const k of keys) if (sections.get(k)?.startsWith('@@missing')) problems.push(`${logs[k]} cannot be read on ${node.name}`);
      read.push({ zone, clock, sections });
    } catch (err) {
      problems.push(`the logs of ${node.name} could not be read (${(err as Error).message})`);
      opts.log.warn({ node: node.name, err: (err as Error).message }, 'could not read the controller\'s service logs');
    } finally {
      raw?.close();
    }
  }));
  // Nova's sends first, from every controller: the agent that received one may run on another.
  const novaMessage = new Map<string, string>(); // unique id → VM
  for (const { zone, clock, sections } of read) {
    for (const [vmId, n] of notifiedFromNovaApiLog(sections.get('novaApi') ?? '', zone, clock, vmIds)) {
      earliest(found[5], vmId, n.instant);
      novaMessage.set(n.uniqueId, vmId);
    }
  }
  const wanted = new Set([...novaMessage.keys(), ...(opts.shortcut?.keys() ?? [])]);
  const ours = new Map<string, RemoteInstant>(); // 6 of the shortcut's message, per VM
  for (const { zone, clock, sections } of read) {
    for (const [uniqueId, at] of publishedFromCeilometerLog(sections.get('ceilometerNotification') ?? '', zone, clock, wanted, AODH_TOPIC)) {
      const nova = novaMessage.get(uniqueId);
      if (nova) earliest(found[6], nova, at);
      else if (opts.shortcut?.has(uniqueId)) earliest(ours, opts.shortcut.get(uniqueId)!.vmId, at);
    }
    for (const [alarm, at] of triggeredFromAodhLog(sections.get('aodhListener') ?? '', zone, clock)) {
      const vmId = vmOfAlarm.get(alarm);
      if (vmId) earliest(found[7], vmId, at);
    }
  }
  // With the shortcut, whichever message Ceilometer published first set the alarm off, and 5 is when
  // that one left: Nova's cast, or the inspector's publish (on this machine's clock).
  const sentAt = new Map([...opts.shortcut?.values() ?? []].map((m) => [m.vmId, m.sentAt]));
  for (const [vmId, at] of ours) {
    if ((found[6].get(vmId)?.at ?? Infinity) <= at.at) continue;
    found[6].set(vmId, { ...at, source: `${at.source}, the shortcut's message` });
    found[5].set(vmId, { at: sentAt.get(vmId)!, source: SHORTCUT_SOURCE, clock: 'this machine', uncertaintyMs: 0 });
  }
  const instants = new Map<string, CloudInstants>();
  for (const id of [5, 6, 7] as const) for (const [vmId, at] of found[id]) instants.set(vmId, { ...instants.get(vmId), [id]: at });
  const why = (what: string, key: keyof ServiceLogs, more = '') => (logs[key]
    ? `no line in ${logs[key]} marks it${more}${problems.length ? `; ${problems.join('; ')}` : ''}`
    : `not observable from outside this cloud: the controller layout names no ${what} log (logs.${key})`);
  return {
    instants,
    missing: {
      5: why('nova-api', 'novaApi', ` (the CAST … NOTIFY line of ${AMQP_LOGGER} at DEBUG, which the controller set-up turns on)`),
      6: logs.novaApi ? why('ceilometer notification agent', 'ceilometerNotification', ' (matched through nova-api\'s unique id: 5 is needed too)') : why('ceilometer notification agent', 'ceilometerNotification'),
      7: why('aodh-listener', 'aodhListener'),
    },
    clocks,
  };
}

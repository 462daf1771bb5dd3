import { componentCosts, missing, parseUtc, round, seen, type Checkpoint, type ClockReading, type Profile, type Timeline } from './checkpoints.js';

/** A remote instant already on the harness's clock, with where it came from. */
export interface RemoteInstant {
  at: number;
  source: string;
  clock: string;
  /** Absent when the clock's offset to the harness is unknown. */
  uncertaintyMs?: number;
}

/** One VM's cloud-side instants (checkpoints 5–8), from whatever source the cloud offers. */
export type CloudInstants = Partial<Record<5 | 6 | 7 | 8, RemoteInstant>>;

export interface ProfileInput {
  /** 0: when the fault script took the link down, corrected to the harness's clock. */
  hostDown?: RemoteInstant;
  /** Why 0 is missing, when the run knows (the log could not be read, the script never took the link down). */
  hostDownMissing?: string;
  /** 1: the monitor's detection. */
  detectedAt?: number;
  /** 2, 3: the inspector's. */
  foundAffectedAt?: number;
  markedDownAt?: number;
  vms: Array<{
    vmId: string;
    name: string;
    /** 4: when the inspector asked Nova to set this VM to error. */
    resetRequestedAt?: number;
    cloud: CloudInstants;
    /** The cloud's span of this VM's reset request (OSProfiler), already on the harness's clock. */
    resetSpan?: { startedAt: number; finishedAt: number; source: string; clock: string };
    /** 9, 10: the consumer's. */
    receivedAt?: number;
    handledAt?: number;
  }>;
  /** Why the cloud's checkpoints are missing when no source gave them. */
  cloudMissing: string;
  /** Why one of them is missing, where its own source says more. */
  cloudMissingBy?: Partial<Record<5 | 6 | 7 | 8, string>>;
  clocks: ClockReading[];
}

/** Every affected VM's eleven checkpoints and component costs. */
export function buildProfile(input: ProfileInput): Profile {
  const shared: Checkpoint[] = [
    input.hostDown ? seen(0, input.hostDown.at, input.hostDown.source, input.hostDown.clock, input.hostDown.uncertaintyMs) : missing(0, input.hostDownMissing ?? 'the fault script\'s log was not read'),
    input.detectedAt !== undefined ? seen(1, input.detectedAt, 'monitor') : missing(1, 'the monitor saw no failure'),
    input.foundAffectedAt !== undefined ? seen(2, input.foundAffectedAt, 'inspector') : missing(2, 'the inspector got no event'),
    input.markedDownAt !== undefined ? seen(3, input.markedDownAt, 'inspector') : missing(3, 'the inspector did not force the host down'),
  ];
  const timelines: Timeline[] = input.vms.map((vm) => {
    const span = vm.resetSpan;
    const cloud = ([5, 6, 7, 8] as const).map((id) => {
      const c = vm.cloud[id];
      if (c) return seen(id, c.at, c.source, c.clock, c.uncertaintyMs);
      // Nova sends the notification inside its reset request: the trace bounds it, no span marks it.
      if (id === 5 && span && vm.resetRequestedAt !== undefined) {
        return missing(5, `sent inside nova's reset request, which ${span.source} shows answered ${(span.finishedAt - vm.resetRequestedAt).toFixed(1)} ms after 4; no span marks the send`);
      }
      return missing(id, input.cloudMissingBy?.[id] ?? input.cloudMissing);
    });
    const reset = vm.resetRequestedAt !== undefined ? seen(4, vm.resetRequestedAt, 'inspector') : missing(4, 'the inspector did not reset this VM');
    if (span) reset.spans = [{ name: 'nova-api reset request', ...span }];
    const checkpoints = [
      ...shared,
      reset,
      ...cloud,
      vm.receivedAt !== undefined ? seen(9, vm.receivedAt, 'consumer') : missing(9, 'the alarm never reached the consumer'),
      vm.handledAt !== undefined ? seen(10, vm.handledAt, 'consumer') : missing(10, 'the alarm never reached the consumer'),
    ];
    const { components, totalMs } = componentCosts(checkpoints);
    return { vmId: vm.vmId, vmName: vm.name, checkpoints, components, ...(totalMs !== undefined ? { totalMs } : {}) };
  });
  const arrival = (t: Timeline) => t.checkpoints[9]?.at ?? Infinity;
  timelines.sort((a, b) => arrival(a) - arrival(b));
  const received = timelines.filter((t) => t.checkpoints[9]?.at !== undefined);
  return {
    timelines,
    ...(received.length ? { fastest: received[0]!.vmId, slowest: received.at(-1)!.vmId } : {}),
    clocks: input.clocks,
  };
}

/** The simulated cloud's trace feed → checkpoints 5–8 of each VM (the sim runs on the harness's clock). */
export function cloudInstantsFromTrace(
  trace: Array<{ hop: string; at: number; instanceId?: string; alarmId?: string; state?: string }>,
  vmId: string,
  alarmId: string,
): CloudInstants {
  const first = (match: (p: (typeof trace)[number]) => boolean) => trace.find(match)?.at;
  const out: CloudInstants = {};
  const put = (id: 5 | 6 | 7 | 8, at: number | undefined, what: string) => {
    if (at !== undefined) out[id] = { at, source: `simulated cloud trace (${what})`, clock: 'harness', uncertaintyMs: 0 };
  };
  put(5, first((p) => p.hop === 'notification' && p.instanceId === vmId && p.state === 'error'), 'nova notification');
  put(6, first((p) => p.hop === 'event' && p.instanceId === vmId && p.state === 'error'), 'ceilometer event');
  put(7, first((p) => p.hop === 'alarm_evaluated' && p.alarmId === alarmId), 'aodh evaluation');
  put(8, first((p) => p.hop === 'alarm_fired' && p.alarmId === alarmId), 'aodh alarm fired');
  return out;
}

/** Aodh's alarm history → checkpoint 8 (the state transition to alarm), on the cloud's clock. */
export function firedFromHistory(
  history: Array<{ type: string; timestamp: string; detail?: string }>,
  clock: { name: string; offsetMs?: number; uncertaintyMs?: number },
): RemoteInstant | undefined {
  const entry = history.find((h) => h.type === 'state transition' && (h.detail ?? '').includes('"alarm"'));
  if (!entry) return undefined;
  const at = parseUtc(entry.timestamp);
  if (at === undefined) return undefined;
  return {
    at: round(at - (clock.offsetMs ?? 0)), source: 'aodh alarm history', clock: clock.name,
    ...(clock.uncertaintyMs !== undefined ? { uncertaintyMs: clock.uncertaintyMs } : {}),
  };
}

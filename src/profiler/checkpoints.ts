/**
 * The profiler's eleven checkpoints (DESIGN.md §5, seeds/000: Doctor's
 * performance-profiler design) and the components between them. A checkpoint
 * that no source observed stays missing: never interpolated, never invented.
 */

export const CHECKPOINT_NAMES = [
  'host down', 'raw failure', 'found affected', 'marked host down', 'set VM error', 'notified VM error',
  'transformed event', 'evaluated event', 'fired alarm', 'received alarm', 'handled alarm',
] as const;

/** Components, each from one checkpoint to a later one; together they cover 0 → 10. */
export const COMPONENTS = [
  { name: 'monitor', from: 0, to: 1 },
  { name: 'inspector', from: 1, to: 4 },
  { name: 'controller (nova)', from: 4, to: 5 },
  { name: 'notifier (ceilometer)', from: 5, to: 6 },
  { name: 'evaluator (aodh)', from: 6, to: 8 },
  { name: 'consumer', from: 8, to: 10 },
] as const;

/** Checkpoint 5's source when the inspector's own message (Doctor's shortcut) set the alarm off. */
export const SHORTCUT_SOURCE = 'inspector (message-bus shortcut: compute.instance.update published)';
/** The inspector's row then (1→5, Nova's reset beside it). */
export const SHORTCUT_ROW = 'inspector (shortcut)';

export interface Checkpoint {
  id: number;
  name: string;
  /** Epoch ms on the harness's clock (remote instants already corrected for the measured offset). */
  at?: number;
  /** Who observed it, e.g. "monitor", "fault script on compute-1", "simulated cloud trace". */
  source?: string;
  /** Whose clock it was read on: "harness", or the host's name. */
  clock?: string;
  /** ± ms: what the clock correction cannot rule out (0 on the harness's own clock; absent when the offset is unknown). */
  uncertaintyMs?: number;
  /** Why it is missing (only when `at` is absent). */
  missing?: string;
  /** Spans of the cloud's own trace (OSProfiler) that belong to this step, on the harness's clock. */
  spans?: Array<{ name: string; startedAt: number; finishedAt: number; source: string; clock: string }>;
}

export interface ComponentCost {
  /** One component, or several merged where the checkpoints between them are missing. */
  component: string;
  from: number;
  to: number;
  ms: number;
  percent: number;
  /** ± ms from the clocks of its two ends; absent when one of them has an unknown offset. */
  uncertaintyMs?: number;
}

/** One VM's path from the host failure to its consumer. */
export interface Timeline {
  vmId: string;
  vmName: string;
  checkpoints: Checkpoint[];
  /** 10 − 0 (or the widest observed span when an end is missing). */
  totalMs?: number;
  components: ComponentCost[];
}

export interface Profile {
  /** Every affected VM, in the order their alarms were received (missing ones last). */
  timelines: Timeline[];
  /** The VM whose alarm came last: it sets the verdict. */
  slowest?: string;
  /** The VM whose alarm came first. */
  fastest?: string;
  clocks: ClockReading[];
}

/** How a remote clock was related to the harness's. */
export interface ClockReading {
  clock: string;
  /** remote − harness, ms. */
  offsetMs: number;
  uncertaintyMs: number;
  method: string;
}

export function missing(id: number, why: string): Checkpoint {
  return { id, name: CHECKPOINT_NAMES[id]!, missing: why };
}

/** An observed checkpoint; on the harness's own clock the uncertainty is 0, on another clock it is what was measured (absent: unknown). */
export function seen(id: number, at: number, source: string, clock = 'harness', uncertaintyMs?: number): Checkpoint {
  const u = uncertaintyMs ?? (clock === 'harness' ? 0 : undefined);
  return { id, name: CHECKPOINT_NAMES[id]!, at, source, clock, ...(u !== undefined ? { uncertaintyMs: u } : {}) };
}

/**
 * Components from observed checkpoints: each runs from its start to its end
 * checkpoint; where checkpoints are missing, neighbours merge into one row
 * ("controller (nova) + notifier (ceilometer)") so the rows still add up to the
 * total. Sorted by cost, most first.
 */
export function componentCosts(checkpoints: Checkpoint[]): { components: ComponentCost[]; totalMs?: number } {
  const at = (id: number) => checkpoints.find((c) => c.id === id)?.at;
  const unc = (id: number) => checkpoints.find((c) => c.id === id)?.uncertaintyMs;
  const observed = checkpoints.filter((c) => c.at !== undefined).map((c) => c.id).sort((a, b) => a - b);
  if (observed.length < 2) return { components: [] };
  const first = observed[0]!;
  const last = observed.at(-1)!;
  const rows: Array<Omit<ComponentCost, 'percent'>> = [];
  let start = first;
  let names: string[] = [];
  // With Doctor's shortcut the message that set the alarm off left the inspector itself: the reset (4)
  // went to Nova beside it, off the path to the alarm, so the inspector's row runs to 5.
  const shortcut = checkpoints.find((c) => c.id === 5)?.source === SHORTCUT_SOURCE;
  const chain: ReadonlyArray<{ name: string; from: number; to: number }> = shortcut
    ? COMPONENTS.flatMap((c) => (c.to === 4 ? [] : c.from === 4 ? [{ name: SHORTCUT_ROW, from: 1, to: 5 }] : [c]))
    : COMPONENTS;
  for (const c of chain) {
    if (c.to <= first || c.from >= last) continue;
    names.push(c.name);
    if (at(c.to) === undefined && c.to < last) continue; // its end was not seen: merge with the next
    const end = Math.min(c.to, last);
    const [u1, u2] = [unc(start), unc(end)];
    rows.push({ component: names.join(' + '), from: start, to: end, ms: round(at(end)! - at(start)!), ...(u1 !== undefined && u2 !== undefined ? { uncertaintyMs: round(u1 + u2) } : {}) });
    start = end;
    names = [];
  }
  const totalMs = round(at(last)! - at(first)!);
  const components = rows
    .map((r) => ({ ...r, percent: totalMs > 0 ? Math.round((r.ms / totalMs) * 1000) / 10 : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { components, totalMs };
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** OpenStack's timestamps (Aodh history, OSProfiler): UTC, often without a zone, to the microsecond → epoch ms. */
export function parseUtc(ts: string): number | undefined {
  const iso = /[zZ]|[+-]\d\d:\d\d$/.test(ts) ? ts : `${ts}Z`;
  const base = Date.parse(iso);
  if (!Number.isFinite(base)) return undefined;
  const frac = /\.(\d+)/.exec(ts)?.[1] ?? '';
  return base + (frac.length > 3 ? Number(`0.${frac.slice(3)}`) : 0);
}

import type { Checkpoint, ComponentCost, Profile, Timeline } from './checkpoints.js';

const BAR = 40;

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const unc = (u: number | undefined) => (u === undefined ? ' ± ?' : u > 0 ? ` ± ${u.toFixed(1)}` : '');

/**
 * One VM's timeline in the spirit of the design's figure: each checkpoint on
 * its own line, its time since the first observed one, a bar to scale, its
 * source and clock; a missing checkpoint says why.
 */
export function renderTimeline(t: Timeline, title: string): string[] {
  const observed = t.checkpoints.filter((c): c is Checkpoint & { at: number } => c.at !== undefined);
  if (!observed.length) return [`${title}: no checkpoint observed`];
  const t0 = Math.min(...observed.map((c) => c.at));
  const span = Math.max(...observed.map((c) => c.at)) - t0 || 1;
  const lines = [`${title}: ${t.vmName} (${t.vmId}), ${t.totalMs !== undefined ? fmt(t.totalMs) : '?'} from first to last checkpoint`];
  lines.push(`  ${''.padEnd(24)} ${''.padStart(12)}  0${''.padEnd(BAR - 1 - String(Math.round(span)).length)}${Math.round(span)} ms`);
  for (const c of t.checkpoints) {
    const label = `${String(c.id).padStart(2)} ${c.name}`.padEnd(24);
    if (c.at === undefined) {
      lines.push(`  ${label} ${'—'.padStart(12)}  ${'·'.repeat(BAR)}  missing: ${c.missing ?? 'not observed'}`);
      continue;
    }
    const pos = Math.min(BAR - 1, Math.round(((c.at - t0) / span) * (BAR - 1)));
    const bar = `${'-'.repeat(pos)}*${' '.repeat(BAR - 1 - pos)}`;
    const clock = c.clock && c.clock !== 'harness' ? `, ${c.clock}'s clock${unc(c.uncertaintyMs)}` : '';
    lines.push(`  ${label} ${`+${(c.at - t0).toFixed(1)}`.padStart(12)}  ${bar}  ${c.source ?? ''}${clock}`);
    for (const s of c.spans ?? []) {
      lines.push(`  ${''.padEnd(24)} ${''.padStart(12)}  ${' '.repeat(BAR)}  └ ${s.name} +${(s.startedAt - t0).toFixed(1)} → +${(s.finishedAt - t0).toFixed(1)} (${s.source})`);
    }
  }
  return lines;
}

/** The components sorted by cost, with their share of the total (they add up to it). */
export function renderComponents(rows: ComponentCost[], totalMs: number | undefined): string[] {
  if (!rows.length) return ['  (too few checkpoints to split the time)'];
  const name = Math.max(9, ...rows.map((r) => r.component.length + 8));
  const line = `+${'-'.repeat(name + 2)}+${'-'.repeat(20)}+${'-'.repeat(12)}+`;
  const out = [line, `| ${'Component'.padEnd(name)} | ${'Time cost'.padEnd(18)} | ${'Percentage'.padEnd(10)} |`, line.replace(/-/g, '=')];
  for (const r of rows) {
    out.push(`| ${`${r.component} ${r.from}→${r.to}`.padEnd(name)} | ${`${fmt(r.ms)}${unc(r.uncertaintyMs)}`.padEnd(18)} | ${`${r.percent.toFixed(1)} %`.padStart(10)} |`);
  }
  out.push(line);
  if (totalMs !== undefined) out.push(`| ${'total'.padEnd(name)} | ${fmt(totalMs).padEnd(18)} | ${'100.0 %'.padStart(10)} |`, line);
  return out.map((l) => `  ${l}`);
}

/** The console profile: the slowest VM's timeline and components, the fastest's total, the clocks. */
export function renderProfile(p: Profile): string[] {
  const slowest = p.timelines.find((t) => t.vmId === p.slowest) ?? p.timelines.at(-1);
  if (!slowest) return [];
  const out = ['', ...renderTimeline(slowest, p.timelines.length > 1 ? 'slowest alarm' : 'timeline'), '', ...renderComponents(slowest.components, slowest.totalMs)];
  const fastest = p.timelines.find((t) => t.vmId === p.fastest);
  if (fastest && fastest !== slowest) out.push('', `  fastest alarm: ${fastest.vmName}, ${fastest.totalMs !== undefined ? fmt(fastest.totalMs) : '?'} from first to last checkpoint`);
  for (const c of p.clocks) out.push(`  clock ${c.clock}: offset ${c.offsetMs.toFixed(1)} ms ± ${c.uncertaintyMs.toFixed(1)} (${c.method})`);
  return out;
}

/** The message-bus shortcut as results.json records it. */
export interface ShortcutSummary {
  transportUrl: string;
  from: string;
  exchange: string;
  routingKey: string;
  published?: number;
  failed?: number;
  duplicatedAlarms?: number;
  duplicatePosts?: number;
}

/** What the report says of Doctor's message-bus shortcut (console and HTML). */
export function shortcutLine(s: ShortcutSummary): string {
  const sent = s.published !== undefined ? `${s.published} compute.instance.update published` : 'used';
  const failed = s.failed ? `, ${s.failed} failed` : '';
  const dups = s.duplicatedAlarms ? `; Aodh POSTed ${s.duplicatedAlarms} alarm(s) more than once (${s.duplicatePosts} extra POSTs)` : '; no alarm POSTed twice';
  return `message-bus shortcut: ${sent}${failed} on ${s.transportUrl} (exchange ${s.exchange}, key ${s.routingKey}; URL from ${s.from})${s.published !== undefined ? dups : ''}`;
}

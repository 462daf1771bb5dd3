import { COMPONENTS, type Timeline } from './checkpoints.js';
import { cloudProfilesHtml, type CloudProfile } from './cloud-profile.js';
import { shortcutLine, type ShortcutSummary } from './render.js';

/** What the HTML report needs of a run's results. */
export interface HtmlInput {
  runId: string;
  testCase: string;
  verdict: string;
  reason?: string;
  thresholdMs: number;
  startedAt: string;
  wallMs?: number;
  host?: { name: string; ip: string; fault?: string };
  detection?: { detectionMs?: number };
  notifications?: { expected: number; received: number; firstMs?: number; lastMs?: number };
  profile?: { timelines: Timeline[]; slowest?: string; fastest?: string; clocks: Array<{ clock: string; offsetMs: number; uncertaintyMs: number; method: string }> };
  osprofiler?: { traceId: string; resetsTraced?: number };
  shortcut?: ShortcutSummary;
  cloudProfile?: CloudProfile[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const ms = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(1)} ms`);
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#b07aa1'];
const colorOf = (component: string) => COLORS[Math.max(0, COMPONENTS.findIndex((c) => component.startsWith(c.name)))]!;

/** One VM's timeline as SVG: component bands on top, one row per checkpoint, missing ones greyed with the reason. */
export function timelineSvg(t: Timeline): string {
  const W = 900;
  const left = 190;
  const right = 30;
  const row = 22;
  const top = 46;
  const observed = t.checkpoints.filter((c) => c.at !== undefined).map((c) => c.at!);
  const t0 = observed.length ? Math.min(...observed) : 0;
  const span = observed.length ? Math.max(...observed) - t0 || 1 : 1;
  const x = (at: number) => left + ((at - t0) / span) * (W - left - right);
  const H = top + t.checkpoints.length * row + 30;
  const parts: string[] = [];
  // Component bands: where each observed component spent its time.
  for (const c of t.components) {
    const a = t.checkpoints[c.from]?.at;
    const b = t.checkpoints[c.to]?.at;
    if (a === undefined || b === undefined) continue;
    const x1 = x(Math.min(a, b));
    const w = Math.max(1, Math.abs(x(b) - x(a)));
    parts.push(`<rect class="band" x="${x1.toFixed(1)}" y="8" width="${w.toFixed(1)}" height="18" fill="${colorOf(c.component)}"><title>${esc(`${c.component} ${c.from}→${c.to}: ${c.ms} ms (${c.percent} %)`)}</title></rect>`);
  }
  parts.push(`<text x="${left}" y="40" class="axis">0</text><text x="${W - right}" y="40" class="axis" text-anchor="end">${span.toFixed(1)} ms</text>`);
  let prev: { x: number; y: number } | undefined;
  t.checkpoints.forEach((c, i) => {
    const y = top + i * row + row / 2;
    parts.push(`<text x="8" y="${y + 4}" class="${c.at === undefined ? 'label missing' : 'label'}">${c.id} ${esc(c.name)}</text>`);
    parts.push(`<line x1="${left}" y1="${y}" x2="${W - right}" y2="${y}" class="grid"/>`);
    if (c.at === undefined) {
      parts.push(`<text x="${left + 6}" y="${y + 4}" class="missing">missing: ${esc(c.missing ?? 'not observed')}</text>`);
      return;
    }
    const cx = x(c.at);
    if (prev) parts.push(`<line x1="${prev.x.toFixed(1)}" y1="${prev.y}" x2="${cx.toFixed(1)}" y2="${y}" class="path"/>`);
    const tip = `${c.name}: +${(c.at - t0).toFixed(1)} ms, ${c.source ?? ''}${c.clock && c.clock !== 'harness' ? `, ${c.clock}'s clock${c.uncertaintyMs === undefined ? ' ± ?' : ` ± ${c.uncertaintyMs} ms`}` : ''}`;
    // The cloud's own spans of this step (OSProfiler): a thin bar under the row.
    for (const s of c.spans ?? []) {
      const x1 = x(s.startedAt);
      parts.push(`<rect class="span" x="${x1.toFixed(1)}" y="${y + 5}" width="${Math.max(1, x(s.finishedAt) - x1).toFixed(1)}" height="4"><title>${esc(`${s.name}: +${(s.startedAt - t0).toFixed(1)} → +${(s.finishedAt - t0).toFixed(1)} ms (${s.source})`)}</title></rect>`);
    }
    parts.push(`<circle class="checkpoint" cx="${cx.toFixed(1)}" cy="${y}" r="4.5"><title>${esc(tip)}</title></circle>`);
    parts.push(`<text x="${Math.min(cx + 8, W - right - 60).toFixed(1)}" y="${y - 5}" class="time">+${(c.at - t0).toFixed(1)}</text>`);
    prev = { x: cx, y };
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" data-vm="${esc(t.vmId)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(`timeline of ${t.vmName}`)}">${parts.join('')}</svg>`;
}

function componentTable(t: Timeline): string {
  const rows = t.components.map((c) => `<tr><td><span class="swatch" style="background:${colorOf(c.component)}"></span>${esc(c.component)} <small>${c.from}→${c.to}</small></td><td class="num">${ms(c.ms)}${c.uncertaintyMs === undefined ? ' ± ?' : c.uncertaintyMs > 0 ? ` ± ${c.uncertaintyMs.toFixed(1)}` : ''}</td><td class="num">${c.percent.toFixed(1)} %</td></tr>`);
  return `<table class="components"><thead><tr><th>Component</th><th>Time cost</th><th>Percentage</th></tr></thead><tbody>${rows.join('')}</tbody><tfoot><tr><td>total</td><td class="num">${ms(t.totalMs)}</td><td class="num">100.0 %</td></tr></tfoot></table>`;
}

/** A self-contained report (one file, no script, nothing fetched): summary, the slowest VM first, then every VM. */
export function renderHtml(r: HtmlInput): string {
  const p = r.profile;
  const ordered = p ? [...p.timelines].sort((a, b) => (a.vmId === p.slowest ? -1 : b.vmId === p.slowest ? 1 : 0)) : [];
  const n = r.notifications;
  const summary = [
    ['verdict', `<span class="verdict ${esc(r.verdict)}">${esc(r.verdict)}</span>${r.reason ? ` — ${esc(r.reason)}` : ''}`],
    ['run', `${esc(r.runId)} (${esc(r.testCase)}), ${esc(r.startedAt)}${r.wallMs !== undefined ? `, ${(r.wallMs / 1000).toFixed(1)} s` : ''}`],
    ...(r.host ? [['failed host', `${esc(r.host.name)} (${esc(r.host.ip)}), ${esc(r.host.fault ?? 'link-down')}${r.detection?.detectionMs !== undefined ? `, detected in ${ms(r.detection.detectionMs)}` : ''}`]] : []),
    ...(n ? [['notification time', `first ${ms(n.firstMs)}, last ${ms(n.lastMs)}; ${n.received}/${n.expected} VMs; pass under ${r.thresholdMs} ms`]] : []),
    ...(p?.clocks ?? []).map((c) => ['clock ' + esc(c.clock), `offset ${c.offsetMs.toFixed(1)} ms ± ${c.uncertaintyMs.toFixed(1)} (${esc(c.method)})`]),
    ...(r.osprofiler ? [['OSProfiler trace', `${esc(r.osprofiler.traceId)}${r.osprofiler.resetsTraced !== undefined ? ` (${r.osprofiler.resetsTraced} reset-state call(s) traced)` : ''}`]] : []),
    ...(r.shortcut ? [['shortcut', esc(shortcutLine(r.shortcut))]] : []),
  ];
  const sections = ordered.map((t) => `<section class="vm"><h2>${esc(t.vmName)} <small>${esc(t.vmId)}${t.vmId === p?.slowest ? ' · slowest alarm' : t.vmId === p?.fastest ? ' · fastest alarm' : ''}</small></h2>${timelineSvg(t)}${componentTable(t)}</section>`);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>doctor run ${esc(r.runId)}: ${esc(r.verdict)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
h1{font-size:20px}h2{font-size:16px;margin:28px 0 6px}small{color:#777;font-weight:normal}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}tfoot td{font-weight:bold}
.verdict{font-weight:bold;padding:1px 6px;border-radius:3px}.PASS{background:#d4edda}.FAIL,.ERROR{background:#f8d7da}.INTERRUPTED{background:#fff3cd}
.swatch{display:inline-block;width:10px;height:10px;margin-right:6px}
svg .label{font-size:12px}svg .missing{fill:#999;font-size:11px}svg .grid{stroke:#eee}svg .path{stroke:#888;stroke-width:1.5}
h3{font-size:14px;margin:14px 0 4px}table.functions code{font-size:12px}
svg .checkpoint{fill:#222}svg .span{fill:#9c755f}svg .time{font-size:10px;fill:#555}svg .axis{font-size:10px;fill:#777}
</style></head><body>
<h1>doctor-harness: ${esc(r.testCase)} ${esc(r.verdict)}</h1>
<table class="summary"><tbody>${summary.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</tbody></table>
${sections.join('\n') || '<p>No profile: the run ended before any alarm was expected.</p>'}
${r.cloudProfile ? cloudProfilesHtml(r.cloudProfile) : ''}
</body></html>
`;
}

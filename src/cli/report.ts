import { readFileSync } from 'node:fs';
import { ConfigError, isRecord } from '../shared/index.js';
import type { RunResults } from '../orchestrator/index.js';
import { compareTimes, junitFor, renderHtml, type Comparison } from '../profiler/index.js';
import { summary } from './run.js';
import { historyFile, readHistory, resolveRun } from './history.js';
import { REPORT_FORMATS } from './common.js';

/** Reads and checks a results.json, naming the file and what is wrong. */
export function loadResults(file: string): RunResults {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('RESULTS', `cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('RESULTS', `${file} is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(doc) || typeof doc['runId'] !== 'string' || typeof doc['verdict'] !== 'string' || !isRecord(doc['cleanup'])) {
    throw new ConfigError('RESULTS', `${file} is not a doctor run's results.json (runId, verdict and cleanup expected)`);
  }
  return doc as unknown as RunResults;
}

/** `doctor report RESULTS.json`: renders a finished run again (console text, JUnit XML, the profile as JSON, or the HTML report). */
export function runReport(file: string, format: string, out: (l: string) => void): number {
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new ConfigError('--format', `must be one of ${REPORT_FORMATS.join(', ')} (got "${format}")`);
  const r = loadResults(file);
  if (format === 'junit') out(junitFor(r).trimEnd());
  else if (format === 'json') out(JSON.stringify(r.profile ?? null, null, 2));
  else if (format === 'html') out(renderHtml(r).trimEnd());
  else {
    out(`doctor run ${r.runId}: ${r.testCase}, ${r.startedAt}`);
    for (const l of summary(r)) out(l);
  }
  return 0;
}

/** Two runs side by side (installer vs installer, 1 vs 50 VMs): the headline numbers, then the slowest alarm's components. */
export function renderCompare(a: RunResults, b: RunResults): string[] {
  const ms = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(1)} ms`);
  const cfg = (r: RunResults) => r.config as { installer?: { type?: string }; vmCount?: number };
  const slowest = (r: RunResults) => r.profile?.timelines.find((t) => t.vmId === r.profile?.slowest);
  const rows: Array<[string, string, string]> = [
    ['run', a.runId, b.runId],
    ['started', a.startedAt, b.startedAt],
    ['verdict', a.verdict, b.verdict],
    ['installer', cfg(a).installer?.type ?? '?', cfg(b).installer?.type ?? '?'],
    ['VMs', String(cfg(a).vmCount ?? '?'), String(cfg(b).vmCount ?? '?')],
    ['detection', ms(a.detection?.detectionMs), ms(b.detection?.detectionMs)],
    ['notification first', ms(a.notifications?.firstMs), ms(b.notifications?.firstMs)],
    ['notification last', ms(a.notifications?.lastMs), ms(b.notifications?.lastMs)],
  ];
  const [sa, sb] = [slowest(a), slowest(b)];
  const names = [...new Set([...(sa?.components ?? []), ...(sb?.components ?? [])].map((c) => c.component))];
  const cell = (t: typeof sa, name: string) => {
    const c = t?.components.find((x) => x.component === name);
    return c ? `${c.ms.toFixed(1)} ms (${c.percent.toFixed(1)} %)` : '—';
  };
  const compRows: Array<[string, string, string]> = [
    ...names.map((n): [string, string, string] => [n, cell(sa, n), cell(sb, n)]),
    ['total (slowest alarm)', ms(sa?.totalMs), ms(sb?.totalMs)],
  ];
  const w0 = Math.max(...[...rows, ...compRows].map((r) => r[0].length)) + 2;
  const w1 = Math.max(...[...rows, ...compRows].map((r) => r[1].length)) + 2;
  const line = ([k, x, y]: [string, string, string]) => `  ${k.padEnd(w0)}${x.padEnd(w1)}${y}`;
  return [line(['', 'A', 'B']), ...rows.map(line), '', '  where the slowest alarm\'s time went:', ...compRows.map(line), '', ...perVmComparison(a, b)];
}

/**
 * B against A over every VM's times: the notification time and each component, as medians and a
 * rank test (Mann–Whitney, 95 %), faster or slower only when the difference is at least 2 ms and 10 %
 * of A's median. The VMs of one run share its conditions: a small difference wants more runs.
 */
export function perVmComparison(a: RunResults, b: RunResults): string[] {
  const notified = (r: RunResults) => (r.notifications?.perVm ?? []).flatMap((v) => (v.notificationMs === undefined ? [] : [v.notificationMs]));
  const component = (r: RunResults, name: string) => (r.profile?.timelines ?? []).flatMap((t) => t.components.filter((c) => c.component === name).map((c) => c.ms));
  const names = [...new Set([a, b].flatMap((r) => (r.profile?.timelines ?? []).flatMap((t) => t.components.map((c) => c.component))))];
  const rows: Array<[string, Comparison, boolean]> = [['notification time', notified(a), notified(b)] as const, ...names.map((n) => [n, component(a, n), component(b, n)] as const)]
    // A figure all VMs of a run share (the monitor's detection) is one value per run, whatever the VM count.
    .map(([n, xs, ys]) => [n, compareTimes(xs, ys), [xs, ys].some((v) => v.length > 1 && new Set(v).size === 1)]);
  const ms = (v: number) => (Number.isNaN(v) ? '—' : `${v.toFixed(1)} ms`);
  const p = (v: number) => (v < 0.0001 ? 'p < 0.0001' : `p = ${v.toFixed(4)}`);
  const said = (c: Comparison) => {
    if (c.verdict === 'too few') return 'too few VMs to say (3 a run at least)';
    if (c.verdict === 'no difference') return `no difference (${p(c.p)})`;
    return `${c.verdict} by ${Math.abs(c.deltaMs).toFixed(1)} ms (${p(c.p)})`;
  };
  const w = Math.max(...rows.map(([n]) => n.length)) + 2;
  return [
    '  B against A, over every VM (medians; Mann–Whitney rank test at 95 %, a difference counts from 2 ms and 10 % of A\'s median):',
    ...rows.map(([n, c, shared]) => `  ${n.padEnd(w)}${`A ${ms(c.medianA)} (${c.n[0]})`.padEnd(22)}${`B ${ms(c.medianB)} (${c.n[1]})`.padEnd(22)}${shared ? 'one value per run, shared by its VMs: compare runs, not VMs' : said(c)}`),
    '  (the VMs of one run share its conditions: before trusting a small difference, compare more runs)',
  ];
}

/** `doctor report`: one run again, the history, or two runs compared. */
export function runReportCommand(ref: string | undefined, flags: { format: string; compare?: string[]; list?: boolean }, env: NodeJS.ProcessEnv, out: (l: string) => void): number {
  const history = historyFile(env);
  if (flags.list) {
    const runs = readHistory(history);
    if (!runs.length) out(`no runs kept yet (${history})`);
    for (const e of runs) out(`${e.runId}  ${e.verdict.padEnd(11)} ${e.installer.padEnd(9)} ${String(e.vmCount).padStart(3)} VM(s)  last ${e.lastMs === undefined ? '—' : `${e.lastMs} ms`}  ${e.results}`);
    return 0;
  }
  if (flags.compare) {
    if (flags.compare.length !== 2) throw new ConfigError('--compare', `takes exactly two runs (got ${flags.compare.length})`);
    const [a, b] = flags.compare.map((r) => loadResults(resolveRun(r, history)));
    for (const l of renderCompare(a!, b!)) out(l);
    return 0;
  }
  if (!ref) throw new ConfigError('RESULTS', 'give a results.json (or a run id), --list or --compare A B');
  return runReport(resolveRun(ref, history), flags.format, out);
}

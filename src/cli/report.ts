import { readFileSync } from 'node:fs';
import { ConfigError, isRecord } from '../shared/errors.js';
import type { RunResults } from '../orchestrator/index.js';
import { renderHtml, renderProfile, toJUnit } from '../profiler/index.js';
import { summary } from './run.js';

export const REPORT_FORMATS = ['text', 'junit', 'json', 'html'] as const;

/** `doctor report RESULTS.json`: renders a finished run again (console text, JUnit XML, the profile as JSON, or the HTML report). */
export function runReport(file: string, format: string, out: (l: string) => void): number {
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new ConfigError('--format', `must be one of ${REPORT_FORMATS.join(', ')} (got "${format}")`);
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
  const r = doc as unknown as RunResults;
  if (format === 'junit') out(toJUnit({ ...r, ...(r.profile ? { text: renderProfile(r.profile).join('\n') } : {}) }).trimEnd());
  else if (format === 'json') out(JSON.stringify(r.profile ?? null, null, 2));
  else if (format === 'html') out(renderHtml(r).trimEnd());
  else {
    out(`doctor run ${r.runId}: ${r.testCase}, ${r.startedAt}`);
    for (const l of summary(r)) out(l);
  }
  return 0;
}

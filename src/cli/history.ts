import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, makeDir } from '../shared/index.js';
import type { RunResults } from '../orchestrator/index.js';
import { stateHome } from './common.js';

/** One line per finished run: where its results folder is, and what to list it by. */
export interface HistoryEntry {
  runId: string;
  startedAt: string;
  verdict: string;
  installer: string;
  vmCount: number;
  lastMs?: number;
  results: string;
}

export function historyFile(env: NodeJS.ProcessEnv): string {
  return join(stateHome(env), 'history.jsonl');
}

export function recordRun(file: string, r: RunResults, resultsJson: string): void {
  makeDir(dirname(file), 'the run history folder (XDG_STATE_HOME or HOME)');
  const config = r.config as { installer?: { type?: string }; vmCount?: number };
  const e: HistoryEntry = {
    runId: r.runId, startedAt: r.startedAt, verdict: r.verdict, installer: config.installer?.type ?? 'unknown', vmCount: config.vmCount ?? 0,
    ...(r.notifications?.lastMs !== undefined ? { lastMs: r.notifications.lastMs } : {}), results: resolve(resultsJson),
  };
  appendFileSync(file, `${JSON.stringify(e)}\n`, { mode: 0o600 });
}

export function readHistory(file: string): HistoryEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).flatMap((l) => {
    try {
      return [JSON.parse(l) as HistoryEntry];
    } catch {
      return []; // a torn last line
    }
  });
}

/** A results.json path, or a run id (a unique prefix will do) from the history. */
export function resolveRun(ref: string, file: string): string {
  if (ref.endsWith('.json') || existsSync(ref)) return existsSync(join(ref, 'results.json')) ? join(ref, 'results.json') : ref;
  const hits = readHistory(file).filter((e) => e.runId.startsWith(ref));
  if (!hits.length) throw new ConfigError('RUN', `no run "${ref}" in ${file}; give a results.json path or a run id from doctor report --list`);
  const ids = [...new Set(hits.map((h) => h.runId))];
  if (ids.length > 1) throw new ConfigError('RUN', `"${ref}" matches ${ids.length} runs (${ids.slice(0, 5).join(', ')}); give more of the id`);
  return hits.at(-1)!.results;
}

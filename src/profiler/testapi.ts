import axios from 'axios';
import { withoutCredentials } from '../shared/index.js';

/** Where and how a run is filed in an OPNFV TestAPI (DESIGN.md §4): from CI's variables. */
export interface TestDbTarget {
  /** TEST_DB_URL: the TestAPI base, or its full .../api/v1/results URL (as OPNFV CI sets it). */
  url: string;
  podName: string;
  installer: string;
  version: string;
  scenario: string;
  buildTag: string;
}

export interface TestDbResult {
  projectName: string;
  caseName: string;
  criteria: 'PASS' | 'FAIL';
  startedAt: string;
  finishedAt: string;
  details: Record<string, unknown>;
}

export interface PushOutcome {
  ok: boolean;
  url: string;
  status?: number;
  /** The stored result's URL (TestAPI answers {"href": ...}). */
  href?: string;
  error?: string;
}

/** TestAPI's date format: "%Y-%m-%d %H:%M:%S" (UTC). */
export function testApiDate(iso: string): string {
  return new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

export function resultsUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return /\/results$/.test(trimmed) ? trimmed : `${trimmed}/api/v1/results`;
}

/** The body TestAPI's POST /api/v1/results takes. */
export function testApiBody(t: TestDbTarget, r: TestDbResult): Record<string, unknown> {
  return {
    project_name: r.projectName, case_name: r.caseName, pod_name: t.podName, installer: t.installer, version: t.version,
    scenario: t.scenario, build_tag: t.buildTag, criteria: r.criteria,
    start_date: testApiDate(r.startedAt), stop_date: testApiDate(r.finishedAt), details: r.details,
  };
}

/** Files the result; a failure is reported in the outcome, never thrown (it must not change the verdict). */
export async function pushResult(t: TestDbTarget, r: TestDbResult, timeoutMs = 10_000): Promise<PushOutcome> {
  const target = resultsUrl(t.url);
  // What the outcome (and so results.json) shows: the URL without any user and password in it.
  const url = withoutCredentials(target);
  try {
    const res = await axios.post(target, testApiBody(t, r), { timeout: timeoutMs, validateStatus: () => true, headers: { 'Content-Type': 'application/json' } });
    const href = typeof res.data === 'object' && res.data && typeof (res.data as { href?: unknown }).href === 'string' ? (res.data as { href: string }).href : undefined;
    if (res.status >= 200 && res.status < 300) return { ok: true, url, status: res.status, ...(href ? { href } : {}) };
    const why = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
    return { ok: false, url, status: res.status, error: `TestAPI answered ${res.status}: ${why.slice(0, 300)}` };
  } catch (err) {
    return { ok: false, url, error: `TestAPI unreachable: ${(err as Error).message}` };
  }
}

/** JUnit XML for CI: the run as one test case, each affected VM's notification as another. */
import type { Profile } from './checkpoints.js';
import { renderProfile } from './render.js';

export interface JUnitInput {
  runId: string;
  testCase: string;
  verdict: 'PASS' | 'FAIL' | 'ERROR' | 'INTERRUPTED';
  reason?: string;
  thresholdMs: number;
  startedAt: string;
  wallMs?: number;
  notifications?: { expected: number; received: number; firstMs?: number; lastMs?: number; perVm: Array<{ name: string; vmId: string; notificationMs?: number; duplicates: number }> };
  /** The failed host and the fault it was given (a property, for CI dashboards that group runs by fault). */
  host?: { name: string; ip: string; fault?: string };
  /** The console profile, kept as the suite's output. */
  text?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
  // XML 1.0 has no place for most control characters.
  .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, ''); // eslint-disable-line no-control-regex

const seconds = (ms: number | undefined) => ((ms ?? 0) / 1000).toFixed(3);

export function toJUnit(r: JUnitInput): string {
  const cases: string[] = [];
  const runOutcome = r.verdict === 'PASS' ? '' : r.verdict === 'FAIL'
    ? `<failure message="${esc(r.reason ?? 'failed')}" type="FAIL"/>`
    : r.verdict === 'INTERRUPTED' ? `<skipped message="${esc(r.reason ?? 'interrupted')}"/>` : `<error message="${esc(r.reason ?? 'error')}" type="ERROR"/>`;
  cases.push(`    <testcase classname="doctor.${esc(r.testCase)}" name="${esc(r.testCase)}" time="${seconds(r.wallMs)}">${runOutcome}</testcase>`);
  for (const v of r.notifications?.perVm ?? []) {
    const name = `notification ${v.name} (${v.vmId})`;
    let outcome = '';
    if (v.notificationMs === undefined) outcome = `<failure message="${esc(`no alarm reached the consumer for ${v.name}`)}" type="missing"/>`;
    else if (!(v.notificationMs > 0 && v.notificationMs < r.thresholdMs)) outcome = `<failure message="${esc(`${v.notificationMs} ms, not within 0–${r.thresholdMs} ms`)}" type="slow"/>`;
    cases.push(`    <testcase classname="doctor.${esc(r.testCase)}.notification" name="${esc(name)}" time="${seconds(v.notificationMs)}">${outcome}</testcase>`);
  }
  const failures = (r.verdict === 'FAIL' ? 1 : 0) + cases.filter((c) => c.includes('<failure') && !c.includes(`name="${esc(r.testCase)}"`)).length;
  const errors = r.verdict === 'ERROR' ? 1 : 0;
  const skipped = r.verdict === 'INTERRUPTED' ? 1 : 0;
  const n = r.notifications;
  const props = [
    ['run_id', r.runId], ['verdict', r.verdict], ['threshold_ms', String(r.thresholdMs)],
    ...(r.host ? [['host', r.host.name], ['fault', r.host.fault ?? 'link-down']] : []),
    ...(n ? [['notifications_expected', String(n.expected)], ['notifications_received', String(n.received)]] : []),
    ...(n?.firstMs !== undefined ? [['notification_first_ms', String(n.firstMs)]] : []),
    ...(n?.lastMs !== undefined ? [['notification_last_ms', String(n.lastMs)]] : []),
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="doctor-harness" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(r.wallMs)}">`,
    `  <testsuite name="doctor.${esc(r.testCase)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(r.wallMs)}" timestamp="${esc(r.startedAt)}">`,
    '    <properties>',
    ...props.map(([k, v]) => `      <property name="${esc(k!)}" value="${esc(v!)}"/>`),
    '    </properties>',
    ...cases,
    ...(r.text ? [`    <system-out>${esc(r.text)}</system-out>`] : []),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** A run's junit.xml: the console profile goes in as the suite's output. */
export function junitFor(r: Omit<JUnitInput, 'text'> & { profile?: Profile }): string {
  return toJUnit({ ...r, ...(r.profile ? { text: renderProfile(r.profile).join('\n') } : {}) });
}

/**
 * The profiler on a whole embedded-lab run with a modelled latency profile in
 * the simulated cloud: all eleven checkpoints, from their own sources, in order
 * where the flow orders them; component costs that add up to the total; the
 * same profile in results.json, junit.xml and `doctor report`. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunResults } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { CHECKPOINT_NAMES } from '../../src/profiler/index.js';
import { runReport } from '../../src/cli/report.js';

describe('the profile of an embedded-lab run', () => {
  let work: string;
  let r: RunResults;
  const latency = { notify: 15, transform: 25, evaluate: 10, fire: 5, deliver: 5 };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-profile-'));
    const config = loadConfig({
      env: {}, readFile: () => undefined, cwd: work,
      flags: { vmCount: 3, inspectorPort: 0, consumerPort: 0, faultDurationS: 2, resultsDir: join(work, 'results'), labLatency: Object.entries(latency).map(([k, v]) => `${k}=${v}`).join(',') },
    });
    r = await runFaultManagement(config, { signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers') });
  }, 60_000);
  afterAll(async () => {
    await abortRuns();
    rmSync(work, { recursive: true, force: true });
  });

  it('shows all eleven checkpoints of every VM, each with its source and clock', () => {
    expect(r.verdict, r.reason).toBe('PASS');
    const p = r.profile!;
    expect(p.timelines).toHaveLength(3);
    for (const t of p.timelines) {
      expect(t.checkpoints.map((c) => c.name)).toEqual([...CHECKPOINT_NAMES]);
      expect(t.checkpoints.filter((c) => c.at === undefined)).toEqual([]);
      expect(t.checkpoints.every((c) => c.source && c.clock)).toBe(true);
      const at = (id: number) => t.checkpoints[id]!.at!;
      // The chain is causal from the reset on: 4 → 5 → … → 10, each hop about its modelled latency at least
      // (timers may fire up to a millisecond early by this clock).
      const slack = 1.5;
      expect(at(5) - at(4)).toBeGreaterThanOrEqual(latency.notify - slack);
      expect(at(6) - at(5)).toBeGreaterThanOrEqual(latency.transform - slack);
      expect(at(7) - at(6)).toBeGreaterThanOrEqual(latency.evaluate - slack);
      expect(at(8) - at(7)).toBeGreaterThanOrEqual(latency.fire - slack);
      expect(at(9) - at(8)).toBeGreaterThanOrEqual(latency.deliver - slack);
      expect(at(10)).toBeGreaterThanOrEqual(at(9));
      expect(at(1)).toBeGreaterThan(at(0));
      expect(at(2)).toBeGreaterThanOrEqual(at(1));
      // 0 came from the fault script on the host, 1 from the monitor, 9 from the consumer.
      expect(t.checkpoints[0]!.source).toBe(`fault script on ${r.host!.name}`);
      expect(t.checkpoints[0]!.clock).toBe(r.host!.name);
      expect(t.checkpoints[1]!.source).toBe('monitor');
      expect(t.checkpoints[9]!.source).toBe('consumer');
      expect(t.checkpoints[9]!.at).toBe(r.notifications!.perVm.find((v) => v.vmId === t.vmId)!.notifiedAt);
    }
    expect(p.slowest).toBe(p.timelines.at(-1)!.vmId);
    // The lab host shares our kernel: its measured offset is within the measurement's own bound.
    expect(p.clocks).toHaveLength(1);
    expect(Math.abs(p.clocks[0]!.offsetMs)).toBeLessThanOrEqual(p.clocks[0]!.uncertaintyMs + 0.5);
  });

  it('splits each VM\'s time into the six components, and they add up to the total', () => {
    for (const t of r.profile!.timelines) {
      expect(t.components.map((c) => c.component).sort()).toEqual(['consumer', 'controller (nova)', 'evaluator (aodh)', 'inspector', 'monitor', 'notifier (ceilometer)']);
      const sum = t.components.reduce((s, c) => s + c.ms, 0);
      expect(Math.abs(sum - t.totalMs!)).toBeLessThan(0.05);
      expect(t.totalMs).toBeCloseTo(t.checkpoints[10]!.at! - t.checkpoints[0]!.at!, 1);
      expect(Math.abs(t.components.reduce((s, c) => s + c.percent, 0) - 100)).toBeLessThan(0.5);
      expect(t.components.map((c) => c.ms)).toEqual([...t.components.map((c) => c.ms)].sort((a, b) => b - a));
      // The sim's modelled hops land in the right rows.
      const row = (name: string) => t.components.find((c) => c.component === name)!.ms;
      expect(row('notifier (ceilometer)')).toBeGreaterThanOrEqual(latency.transform - 1.5);
      expect(row('evaluator (aodh)')).toBeGreaterThanOrEqual(latency.evaluate + latency.fire - 3);
    }
  });

  it('is in results.json and junit.xml, and doctor report prints the same timeline and table', () => {
    const dir = join(work, 'results', r.runId);
    const saved = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResults;
    expect(saved.profile).toEqual(r.profile);
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuites name="doctor-harness" tests="4" failures="0" errors="0" skipped="0"/);
    expect(junit.match(/<testcase /g)).toHaveLength(4);
    expect(junit).toContain(`<property name="notification_last_ms" value="${r.notifications!.lastMs}"/>`);
    expect(junit).toContain(`<property name="host" value="${r.host!.name}"/>`);
    expect(junit).toContain('<property name="fault" value="link-down"/>');
    expect(junit).toContain('10 handled alarm');
    const lines: string[] = [];
    expect(runReport(join(dir, 'results.json'), 'text', (l) => lines.push(l))).toBe(0);
    const text = lines.join('\n');
    for (const name of CHECKPOINT_NAMES) expect(text).toContain(name);
    expect(text).toMatch(/\| Component +\| Time cost +\| Percentage \|/);
    expect(text).toMatch(/\| total +\| [\d.]+ ms +\| +100\.0 % \|/);
    const xml: string[] = [];
    runReport(join(dir, 'results.json'), 'junit', (l) => xml.push(l));
    expect(xml.join('\n')).toBe(junit.trimEnd());
  });
});

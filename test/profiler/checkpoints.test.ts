/** Component costs from partial checkpoints, Aodh history timestamps, JUnit escaping, report input errors. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentCosts, firedFromHistory, missing, parseUtc, resetSpan, seen, spansOf, timelineSvg, toJUnit } from '../../src/profiler/index.js';
import { runReport } from '../../src/cli/report.js';
import { EnergyRecorder } from '../../src/profiler/energy.js';
import { capturingLogger } from '../helpers/lab.js';

const all = (times: Array<number | undefined>) => times.map((t, id) => (t === undefined ? missing(id, 'not observed') : seen(id, t, 'test')));

describe('component costs', () => {
  it('takes each component from its checkpoints and sorts by cost; percentages of the total', () => {
    const { components, totalMs } = componentCosts(all([0, 100, 110, 120, 130, 170, 180, 200, 205, 240, 241]));
    expect(totalMs).toBe(241);
    expect(components.map((c) => [c.component, c.ms])).toEqual([
      ['monitor', 100], ['controller (nova)', 40], ['consumer', 36], ['inspector', 30], ['evaluator (aodh)', 25], ['notifier (ceilometer)', 10],
    ]);
    expect(components[0]!.percent).toBe(41.5);
  });

  it('with the shortcut\'s message first, the inspector\'s row runs to 5, past the reset it sent Nova beside it', () => {
    // The slowest VM's reset left 3 s after detection (queued behind the others); the shortcut's message at once.
    const cps = all([0, 100, 110, 120, 3100, 112, 180, 200, 205, 240, 241]);
    cps[5] = seen(5, 112, 'inspector (message-bus shortcut: compute.instance.update published)');
    const { components, totalMs } = componentCosts(cps);
    expect(components.map((c) => [c.component, c.from, c.to, c.ms])).toEqual([
      ['monitor', 0, 1, 100], ['notifier (ceilometer)', 5, 6, 68], ['consumer', 8, 10, 36], ['evaluator (aodh)', 6, 8, 25], ['inspector (shortcut)', 1, 5, 12],
    ]);
    expect(components.reduce((n, c) => n + c.ms, 0)).toBe(totalMs);
  });

  it('merges neighbours over missing checkpoints, so the rows still add up, and never invents a time', () => {
    // A real cloud: 5, 6, 7 not observed; 8 from Aodh's history.
    const { components, totalMs } = componentCosts(all([0, 100, 110, 120, 130, undefined, undefined, undefined, 205, 240, 241]));
    expect(components.map((c) => [c.component, c.from, c.to, c.ms])).toEqual([
      ['monitor', 0, 1, 100],
      ['controller (nova) + notifier (ceilometer) + evaluator (aodh)', 4, 8, 75],
      ['consumer', 8, 10, 36],
      ['inspector', 1, 4, 30],
    ]);
    expect(components.reduce((s, c) => s + c.ms, 0)).toBe(totalMs);
    // No fault log: the total starts at detection.
    const noHost = componentCosts(all([undefined, 100, 110, 120, 130, 170, 180, 200, 205, 240, 241]));
    expect(noHost.totalMs).toBe(141);
    expect(noHost.components.map((c) => c.component)).not.toContain('monitor');
  });

  it('carries clock uncertainty into the rows, and says when it is unknown', () => {
    const cps = all([0, 100, 110, 120, 130, 170, 180, 200, 205, 240, 241]);
    cps[0] = seen(0, 0, 'fault script', 'compute-9', 2.5);
    cps[8] = seen(8, 205, 'aodh alarm history', 'the cloud', undefined);
    const { components } = componentCosts(cps);
    expect(components.find((c) => c.component === 'monitor')!.uncertaintyMs).toBe(2.5);
    expect(components.find((c) => c.component === 'consumer')!.uncertaintyMs).toBeUndefined();
    expect(components.find((c) => c.component === 'inspector')!.uncertaintyMs).toBe(0);
  });
});

describe('Aodh alarm history', () => {
  it('reads the transition to alarm (UTC, no zone, microseconds) and corrects for the cloud clock', () => {
    const history = [
      { type: 'creation', timestamp: '2026-11-21T05:39:10.100000', detail: '{}' },
      { type: 'state transition', timestamp: '2026-11-21T05:39:12.345678', detail: '{"state": "alarm"}' },
    ];
    expect(firedFromHistory(history, { name: 'this machine', offsetMs: 0, uncertaintyMs: 0 })).toEqual({
      at: Date.parse('2026-11-21T05:39:12.345Z') + 0.68, source: 'aodh alarm history', clock: 'this machine', uncertaintyMs: 0,
    });
    expect(firedFromHistory(history, { name: 'the cloud', offsetMs: 1000 })!.at).toBe(Date.parse('2026-11-21T05:39:11.345Z') + 0.68);
    expect(firedFromHistory(history.slice(0, 1), { name: 'x' })).toBeUndefined();
  });
});

describe('JUnit XML', () => {
  it('escapes what XML cannot hold and counts a slow VM as a failure', () => {
    const xml = toJUnit({
      runId: 'r1', testCase: 'fault_management', verdict: 'FAIL', reason: 'the last notification took 1200 ms, not within 0–1000 ms <&>"\u0001',
      thresholdMs: 1000, startedAt: '2026-11-21T00:00:00.000Z', wallMs: 5000,
      notifications: { expected: 2, received: 2, firstMs: 10, lastMs: 1200, perVm: [{ name: 'a', vmId: '1', notificationMs: 10, duplicates: 0 }, { name: 'b', vmId: '2', notificationMs: 1200, duplicates: 0 }] },
    });
    expect(xml).toContain('tests="3" failures="2" errors="0"');
    expect(xml).toContain('&lt;&amp;&gt;&quot;"');
    expect(xml).not.toContain('\u0001');
    expect(xml).toContain('<failure message="1200 ms, not within 0–1000 ms" type="slow"/>');
  });
});

describe('doctor report input', () => {
  it('names the file and what is wrong with it, and the format flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-report-'));
    try {
      writeFileSync(join(dir, 'bad.json'), '{"runId": 1}');
      writeFileSync(join(dir, 'text.json'), 'not json');
      expect(() => runReport(join(dir, 'none.json'), 'text', () => {})).toThrow(/RESULTS: cannot read .*none\.json/);
      expect(() => runReport(join(dir, 'text.json'), 'text', () => {})).toThrow(/RESULTS: .*text\.json is not JSON/);
      expect(() => runReport(join(dir, 'bad.json'), 'text', () => {})).toThrow(/is not a doctor run's results\.json/);
      expect(() => runReport(join(dir, 'bad.json'), 'pdf', () => {})).toThrow(/--format: must be one of text, junit, json, html/);
    } finally {
      rmSync(dir, { recursive: true, force: true }); // a test leaves nothing behind
    }
  });
});

describe('OSProfiler reports', () => {
  it('flattens `osprofiler trace show --json` and finds the reset request of a VM, with absolute UTC instants', () => {
    // The shape osprofiler's base driver builds: info with relative ms plus each point's raw payload.
    const report = {
      info: { name: 'total', started: 0, finished: 40 },
      children: [{
        info: {
          name: 'wsgi', service: 'osapi_compute', project: 'nova', host: 'vm', started: 10, finished: 38,
          'meta.raw_payload.wsgi-start': { name: 'wsgi-start', timestamp: '2026-11-21T09:30:00.100250', info: { request: { path: '/v2.1/servers/vm-1/action', method: 'POST' } } },
          'meta.raw_payload.wsgi-stop': { name: 'wsgi-stop', timestamp: '2026-11-21T09:30:00.128500', info: { host: 'vm' } },
        },
        children: [{ info: { name: 'db', started: 12, finished: 13, 'meta.raw_payload.db-start': { timestamp: '2026-11-21T09:30:00.102000' } }, children: [] }],
      }],
    };
    const spans = spansOf(report);
    expect(spans.map((s) => s.name)).toEqual(['total', 'wsgi', 'db']);
    const reset = resetSpan(spans, 'vm-1')!;
    expect(reset).toMatchObject({ service: 'osapi_compute', method: 'POST', path: '/v2.1/servers/vm-1/action' });
    expect(reset.startedAt).toBeCloseTo(Date.parse('2026-11-21T09:30:00.100Z') + 0.25, 3);
    expect(reset.finishedAt).toBeCloseTo(Date.parse('2026-11-21T09:30:00.128Z') + 0.5, 3);
    expect(resetSpan(spans, 'vm-2')).toBeUndefined();
    expect(parseUtc('not a time')).toBeUndefined();
  });
});

describe('the HTML timeline', () => {
  it('draws a cloud span under its checkpoint, and a missing checkpoint as its reason', () => {
    const cps = all([0, 100, 110, 120, 130, undefined, undefined, undefined, 205, 240, 241]);
    cps[4]!.spans = [{ name: 'nova-api reset request', startedAt: 131, finishedAt: 190, source: 'osprofiler (osapi_compute wsgi span)', clock: 'this machine' }];
    const { components, totalMs } = componentCosts(cps);
    const svg = timelineSvg({ vmId: 'vm-1', vmName: 'doctor_vm0', checkpoints: cps, components, totalMs: totalMs! });
    expect(svg.match(/<circle class="checkpoint"/g)).toHaveLength(8);
    expect(svg).toMatch(/<rect class="span" [^>]*><title>nova-api reset request: \+131\.0 → \+190\.0 ms \(osprofiler \(osapi_compute wsgi span\)\)<\/title>/);
    expect(svg).toContain('missing: not observed');
  });
});

describe('the energy recorder', () => {
  it('never logs the password of its URL, and stays quiet after the first failure', async () => {
    const { logger, lines } = capturingLogger('warn');
    const rec = new EnergyRecorder('http://ops:energy-secret@127.0.0.1:9/api', 'pod-1', { scenario: 's', logger, timeoutMs: 500 });
    expect(await rec.start()).toBe(false);
    await rec.step('provision');
    await rec.stop();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('127.0.0.1:9/api');
    expect(lines.join('\n')).not.toContain('energy-secret');
  });
});

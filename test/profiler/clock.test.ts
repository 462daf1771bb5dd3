/**
 * Host clocks: the offset is measured over SSH and the host's instants are
 * corrected. Unit: the best round trip wins and bounds the error. Whole run: a
 * lab host with a fake `date` 5.25 s ahead. Needs root for the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureClockOffset } from '../../src/orchestrator/fault/clock.js';
import { loadConfig, type RunResults } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { renderProfile } from '../../src/profiler/index.js';

describe('measuring a host clock', () => {
  it('takes the offset from the shortest round trip and half of it as the bound', async () => {
    // Harness readings around a warm-up and three exchanges; the host is 1000 ms ahead; round trips 10, 2 and 6 ms.
    const harness = [-50, -1, 0, 10, 100, 102, 200, 206];
    const remote = ['0.975', '1.006', '1.1015', '1.2025']; // seconds: 1000 ms ahead, read at various points inside each trip
    let i = 0;
    let j = 0;
    const session = { interact: async () => ({ ask: async () => remote[j++]!, close: () => {} }) };
    const r = await measureClockOffset(session, 3, () => harness[i++]!);
    expect(r).toEqual({ offsetMs: 1000.5, uncertaintyMs: 1, samples: 3, bestRoundTripMs: 2 });
  });

  it('says what the host printed when it is not an epoch', async () => {
    const session = { interact: async () => ({ ask: async () => 'Sat Nov 21', close: () => {} }) };
    await expect(measureClockOffset(session, 2)).rejects.toThrow(/reading the host's clock failed: "date \+%s\.%N" printed "Sat Nov 21"/);
  });
});

describe('a run on a lab host whose clock is 5.25 s ahead (a fake date)', () => {
  const SKEW_MS = 5250;
  let work: string;
  let r: RunResults;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-clock-'));
    const config = loadConfig({ env: {}, readFile: () => undefined, cwd: work, flags: { vmCount: 1, labHosts: 1, inspectorPort: 0, consumerPort: 0, faultDurationS: 2, resultsDir: join(work, 'results') } });
    r = await runFaultManagement(config, {
      signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers'),
      // Once the lab hosts exist: each gets a `date` that runs ahead (its sshd puts the host's bin/ first in PATH).
      onLabCloud: () => {
        const hosts = join(config.resultsDir, 'lab', 'hosts');
        for (const h of existsSync(hosts) ? readdirSync(hosts) : []) {
          mkdirSync(join(hosts, h, 'bin'), { recursive: true });
          const fake = join(hosts, h, 'bin', 'date');
          writeFileSync(fake, `#!/bin/sh\nif [ "$1" = "+%s.%N" ]; then /usr/bin/date +%s.%N | /usr/bin/awk '{ printf "%.9f\\n", $1 + ${SKEW_MS / 1000} }'; else exec /usr/bin/date "$@"; fi\n`);
          chmodSync(fake, 0o755);
        }
      },
    });
  }, 60_000);
  afterAll(async () => {
    await abortRuns();
    rmSync(work, { recursive: true, force: true });
  });

  it('measures the offset, corrects the host-down instant within the printed uncertainty, and prints both', () => {
    expect(r.verdict, r.reason).toBe('PASS');
    const clock = r.profile!.clocks[0]!;
    expect(clock.clock).toBe(r.host!.name);
    expect(Math.abs(clock.offsetMs - SKEW_MS)).toBeLessThanOrEqual(clock.uncertaintyMs + 0.5);
    // The host wrote its (skewed) time; the run put it on the harness's clock.
    expect(r.faultLog!.downAt! - r.detection!.linkDownAt!).toBeCloseTo(clock.offsetMs, 2);
    // Uncorrected, detection would come ~5 s "before" the link went down.
    expect(r.detection!.detectionMs).toBeGreaterThan(0);
    expect(r.detection!.detectionMs).toBeLessThan(SKEW_MS / 2);
    const hostDown = r.profile!.timelines[0]!.checkpoints[0]!;
    expect(hostDown).toMatchObject({ at: r.detection!.linkDownAt, clock: r.host!.name, uncertaintyMs: clock.uncertaintyMs });
    const text = renderProfile(r.profile!).join('\n');
    expect(text).toContain(`clock ${r.host!.name}: offset ${clock.offsetMs.toFixed(1)} ms ± ${clock.uncertaintyMs.toFixed(1)}`);
    expect(text).toMatch(new RegExp(`fault script on ${r.host!.name}, ${r.host!.name}'s clock ± ${clock.uncertaintyMs.toFixed(1)}`));
  });
});

/**
 * The run history and `doctor report --list / --compare` through the CLI, as a
 * user runs them: two real runs on the embedded lab (1 and 3 VMs). Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = new URL('../../bin/doctor.js', import.meta.url).pathname;

/**
 * A state home of its own with real runs of `doctor run` in it, one per list of extra flags, made
 * before the block's tests and removed after; `doctor` runs the CLI against it.
 */
function withRuns(prefix: string, runs: string[][]) {
  const h = {
    work: '',
    ids: [] as string[],
    doctor: (args: string[]) => run('node', [BIN, ...args], { cwd: h.work, env: { ...process.env, XDG_STATE_HOME: join(h.work, 'state'), CI: 'true' } }),
  };
  beforeAll(async () => {
    h.work = mkdtempSync(join(tmpdir(), prefix));
    for (const extra of runs) {
      const { stdout } = await h.doctor(['run', '--fault-duration', '2', '--inspector-port', '0', '--consumer-port', '0', ...extra]);
      h.ids.push(/doctor run (\S+):/.exec(stdout)![1]!);
    }
  }, 90_000);
  afterAll(() => rmSync(h.work, { recursive: true, force: true }));
  return h;
}

describe('doctor report over the run history', () => {
  const h = withRuns('doctor-history-', [['--vm-count', '1'], ['--vm-count', '3']]);
  const { ids, doctor } = h;

  it('keeps every run and lists them', async () => {
    const { stdout } = await doctor(['report', '--list']);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${ids[0]} +PASS +lab +1 VM\\(s\\) +last [\\d.]+ ms +${h.work}/results/${ids[0]}/results\\.json$`));
    expect(lines[1]).toContain(`${ids[1]}  PASS`);
  });

  it('compares two runs side by side, headline numbers and the slowest alarm\'s components', async () => {
    const { stdout } = await doctor(['report', '--compare', ids[0]!, join(h.work, 'results', ids[1]!, 'results.json')]);
    expect(stdout).toMatch(new RegExp(`run +${ids[0]} +${ids[1]}`));
    expect(stdout).toMatch(/VMs +1 +3/);
    expect(stdout).toMatch(/notification last +[\d.]+ ms +[\d.]+ ms/);
    for (const c of ['monitor', 'inspector', 'controller (nova)', 'notifier (ceilometer)', 'evaluator (aodh)', 'consumer']) {
      expect(stdout).toMatch(new RegExp(`${c.replace(/[()]/g, '\\$&')} +[\\d.]+ ms \\([\\d.]+ %\\) +[\\d.]+ ms \\([\\d.]+ %\\)`));
    }
  });

  it('finds a run by its id, and says what is wrong with a bad reference', async () => {
    const { stdout } = await doctor(['report', ids[1]!]);
    expect(stdout).toContain(`doctor run ${ids[1]}`);
    expect(stdout).toContain('10 handled alarm');
    await expect(doctor(['report', 'no-such-run'])).rejects.toMatchObject({ stderr: expect.stringMatching(/RUN: no run "no-such-run" in .*history\.jsonl/) });
    await expect(doctor(['report', '--compare', ids[0]!])).rejects.toMatchObject({ stderr: expect.stringMatching(/--compare: takes exactly two runs \(got 1\)/) });
  });
});

describe('doctor report --compare over every VM', () => {
  // The same 5 VMs twice, the second with 50 ms more in the simulated Aodh's evaluator.
  const { ids, doctor } = withRuns('doctor-compare-', [['--vm-count', '5'], ['--vm-count', '5', '--lab-latency', 'evaluate=50']]);

  it('names the evaluator slower (and the notification time), and refuses to test a figure the VMs of a run share', async () => {
    const { stdout } = await doctor(['report', '--compare', ids[0]!, ids[1]!]);
    expect(stdout).toContain('B against A, over every VM (medians; Mann–Whitney rank test at 95 %');
    expect(stdout).toMatch(/\n {2}evaluator \(aodh\) +A [\d.]+ ms \(5\) +B [\d.]+ ms \(5\) +slower by [\d.]+ ms \(p (= 0\.0[0-4]\d\d|< 0\.0001)\)/);
    expect(stdout).toMatch(/\n {2}notification time +A [\d.]+ ms \(5\) +B [\d.]+ ms \(5\) +slower by [\d.]+ ms/);
    expect(stdout).toMatch(/\n {2}monitor +A [\d.]+ ms \(5\) +B [\d.]+ ms \(5\) +one value per run, shared by its VMs: compare runs, not VMs/);
    const evaluator = /evaluator \(aodh\) .* slower by ([\d.]+) ms/.exec(stdout)!;
    expect(Number(evaluator[1])).toBeGreaterThanOrEqual(45); // the 50 ms it was given, less what the first run's evaluator took
  });

  it('says a run compared with itself is no different in every row it can test', async () => {
    const { stdout } = await doctor(['report', '--compare', ids[0]!, ids[0]!]);
    const rows = stdout.split('B against A, over every VM')[1]!.split('\n').slice(1).filter((l) => /^ {2}\S/.test(l) && !l.includes('the VMs of one run'));
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const row of rows) expect(row).toMatch(/no difference \(p = 1\.0000\)|one value per run/);
  });
});

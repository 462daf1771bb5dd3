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

describe('doctor report over the run history', () => {
  let work: string;
  const ids: string[] = [];
  const doctor = (args: string[]) => run('node', [BIN, ...args], { cwd: work, env: { ...process.env, XDG_STATE_HOME: join(work, 'state'), CI: 'true' } });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-history-'));
    for (const vms of ['1', '3']) {
      const { stdout } = await doctor(['run', '--vm-count', vms, '--fault-duration', '2', '--inspector-port', '0', '--consumer-port', '0']);
      ids.push(/doctor run (\S+):/.exec(stdout)![1]!);
    }
  }, 90_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('keeps every run and lists them', async () => {
    const { stdout } = await doctor(['report', '--list']);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${ids[0]} +PASS +lab +1 VM\\(s\\) +last [\\d.]+ ms +${work}/results/${ids[0]}/results\\.json$`));
    expect(lines[1]).toContain(`${ids[1]}  PASS`);
  });

  it('compares two runs side by side, headline numbers and the slowest alarm\'s components', async () => {
    const { stdout } = await doctor(['report', '--compare', ids[0]!, join(work, 'results', ids[1]!, 'results.json')]);
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

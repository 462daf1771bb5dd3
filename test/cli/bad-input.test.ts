/** Bad input and a bad environment: `doctor` says which setting, which value, and what to do; never a stack trace. */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('doctor run with bad input', () => {
  let work: string;
  const doctor = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/doctor.js'), ...args], {
      cwd: work, encoding: 'utf8', env: { ...process.env, OS_CLOUD: '', OS_AUTH_URL: '', XDG_STATE_HOME: join(work, 'state'), ...env }, timeout: 60_000,
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'doctor-badinput-'));
    writeFileSync(join(work, 'a-file'), 'not a folder\n');
    writeFileSync(join(work, 'bad.yaml'), 'insecureSkipHostKeyCheck: nope\n');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['a results folder that cannot be created', ['run', '--results-dir', 'a-file/results'], {}, /^doctor: --results-dir: cannot create the folder .*a-file\/results\/\S+ \(at .*a-file\): a part of the path is a file, not a folder; choose a folder you can write/m],
    ['a flag value out of range', ['run', '--vm-count', '0'], {}, /^doctor: --vm-count: .*\(from the command line\)/m],
    ['a flag value that is not a number', ['run', '--fault-duration', 'long'], {}, /^doctor: --fault-duration: must be a number/m],
    ['a variable with a wrong value', ['run'], { VM_COUNT: 'many' }, /^doctor: VM_COUNT: must be a number \(from the environment\)/m],
    ['a config file with a word that is not yes or no', ['run', '--config', 'bad.yaml'], {}, /^doctor: insecureSkipHostKeyCheck: must be true\/false, yes\/no, 1\/0 or on\/off \(got "nope"\)/m],
    ['an unknown installer', ['run', '--installer', 'openshift'], {}, /^doctor: --installer: /m],
    ['a fault that does not exist', ['run', '--fault', 'meteor'], {}, /^doctor: --fault: "meteor" is not a fault; the faults are link-down, icmp-blackhole, icmp-loss:P, freeze, power-off, flap:NxD$/m],
    ['an ICMP loss above 100 %', ['run', '--fault', 'icmp-loss:150'], {}, /^doctor: --fault: "icmp-loss:150": icmp-loss takes the share of ICMP packets to drop in %, more than 0 and at most 100/m],
    ['a fault parameter where none is taken', ['run', '--fault', 'link-down:5'], {}, /^doctor: --fault: "link-down:5": link-down takes no parameter$/m],
    ['a power-off of a host that is not a lab host (inject)', ['inject', '--host', 'c1=127.0.0.1', '--fault', 'power-off'], {}, /^doctor: --fault: doctor inject powers off lab hosts only; 127\.0\.0\.1 is not a lab address: a real host is powered off by doctor run through a power driver/m],
    ['an ICMP loss without its share (inject)', ['inject', '--host', 'c1=198.18.0.2', '--fault', 'icmp-loss'], {}, /^doctor: --fault: "icmp-loss": icmp-loss takes the share/m],
    ['hosts from Nova and from a flag at once', ['monitor', '--hosts-from-nova', '--host', 'c1=198.18.0.2', '--inspector', 'http://127.0.0.1:1'], {}, /^doctor: --hosts-from-nova: takes the hosts from Nova: leave out --host and --hosts-file/m],
    ['a --trace-resets that is neither a number nor all (run)', ['run', '--trace-resets', 'some'], {}, /^doctor: --trace-resets: must be all or a whole number \(0 traces none\) \(from the command line\)/m],
    ['a --trace-resets that is neither a number nor all (inspector)', ['inspector', '--trace-resets', '-1'], {}, /^doctor: --trace-resets: "-1" must be all or a whole number \(0 traces none\)/m],
    ['hosts from Nova without a cloud', ['monitor', '--hosts-from-nova', '--inspector', 'http://127.0.0.1:1'], {}, /^doctor: OS_AUTH_URL: is not set/m],
    ['an ICMP transport that does not exist', ['monitor', '--host', 'lo=127.0.0.1', '--inspector', 'http://127.0.0.1:1'], { DOCTOR_ICMP_TRANSPORT: 'dpdk' }, /^doctor: DOCTOR_ICMP_TRANSPORT=dpdk is not a transport: use batch or raw-socket, or unset it/m],
  ];
  for (const [what, args, env, want] of cases) {
    it(`${what}: exit 2 and one line naming it`, () => {
      const r = doctor(args, env);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(want);
      expect(r.out).not.toMatch(/unexpected error|^\s+at /m);
    });
  }
});

describe('a reader that goes away', () => {
  it('doctor monitor --json | head -0: the monitor stops as on SIGTERM, exit 0, no stack trace', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'monitor', '--host', 'lo=127.0.0.1', '--inspector', 'http://127.0.0.1:1', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // However the test ends (a timeout included), the monitor does not outlive it.
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      // As head does once it has its line: here before the first, so the monitor's first write (its
      // started line) meets a closed pipe, whatever the timing.
      child.stdout.destroy();
      expect(await exited, stderr).toBe(0);
      expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });

  it('doctor report --list | head -0: a command with nothing to clean up finishes and exits 0 (it was killed by its own SIGTERM)', async () => {
    const state = mkdtempSync(join(tmpdir(), 'doctor-epipe-'));
    onTestFinished(() => rmSync(state, { recursive: true, force: true }));
    const child = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'report', '--list'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_STATE_HOME: state },
    });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.stdout.destroy();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect({ code, signal }, stderr).toEqual({ code: 0, signal: null });
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
  });
});

/** Whole fault-management runs on the embedded lab: real namespaces, sshd, ICMP. Needs root. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabCloud } from '../../src/lab/index.js';
import { loadConfig, type RunResults } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { runCleanup, summary } from '../../src/cli/run.js';
import { processStart, processState } from '../../src/shared/index.js';
import { eventually } from '../helpers/lab.js';
import { labLeftovers, NOTHING_LEFT } from '../helpers/hosts.js';

const ROOT = new URL('../../', import.meta.url).pathname;
let work: string;
const ledgers = () => join(work, 'state', 'doctor-harness', 'ledgers');
const cliLedgers = () => join(work, 'cli-state', 'doctor-harness', 'ledgers');
/** What a run's lab left on the machine, from the lab id its results.json (or its surviving lab state) names. */
function runLeftovers(resultsDir: string, runId: string) {
  const dir = join(resultsDir, runId, 'lab');
  const state = existsSync(join(dir, 'lab.json')) ? JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) : undefined;
  const results = existsSync(join(resultsDir, runId, 'results.json')) ? JSON.parse(readFileSync(join(resultsDir, runId, 'results.json'), 'utf8')) : undefined;
  const labId: string = state?.labId ?? results?.cloud?.labId;
  expect(labId, 'the run should name its lab').toMatch(/^r[0-9a-f]{4}$/);
  return labLeftovers(labId, dir);
}

async function run(flags: Record<string, string | number | boolean>, opts: { abortWhen?: RegExp; onLine?: (line: string, cloud: LabCloud) => void } = {}): Promise<{ results: RunResults; cloud: LabCloud; lines: string[] }> {
  const config = loadConfig({ env: {}, flags: { inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results'), ...flags }, readFile: () => undefined, cwd: work });
  const ac = new AbortController();
  const lines: string[] = [];
  let cloud: LabCloud | undefined;
  const results = await runFaultManagement(config, {
    signal: ac.signal,
    ledgerDir: ledgers(),
    onLabCloud: (c) => (cloud = c),
    progress: (l) => {
      lines.push(l);
      if (opts.abortWhen?.test(l)) ac.abort(new Error('interrupted by the test'));
      if (cloud) opts.onLine?.(l, cloud);
    },
  });
  return { results, cloud: cloud!, lines };
}

/** Nothing of the run is left in the (stopped) simulated cloud or on the machine. */
function expectNothingLeft(r: RunResults, cloud: LabCloud): void {
  const s = cloud.cloud.state;
  expect(s.servers.size).toBe(0);
  expect(s.alarms.size).toBe(0);
  expect([...s.projects.values()].map((p) => p.name).sort()).toEqual(['admin', 'service']);
  expect([...s.users.values()].map((u) => u.name)).toEqual(['admin']);
  expect([...s.services.values()].filter((x) => x.forcedDown)).toEqual([]);
  expect(s.flavors.size).toBe(0);
  expect(s.images.size).toBe(0); // the run uploaded its image (none existed): it must delete it
  expect(runLeftovers(join(work, 'results'), r.runId)).toEqual(NOTHING_LEFT);
  expect(existsSync(join(ledgers(), `${r.runId}.jsonl`))).toBe(false);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'doctor-e2e-'));
});
afterAll(async () => {
  await abortRuns();
  // Whatever happened above, no lab of these runs outlives the tests.
  for (const dir of [ledgers(), cliLedgers()]) await runCleanup({ ...process.env, XDG_STATE_HOME: join(dir, '..', '..') }, () => {});
  rmSync(work, { recursive: true, force: true });
});

describe('doctor run on the embedded lab', () => {
  it('passes with 3 VMs on one host and writes every VM time, first and last', async () => {
    const { results: r, cloud } = await run({ vmCount: 3 });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(r.notifications!.expected).toBe(3);
    expect(r.notifications!.received).toBe(3);
    const times = r.notifications!.perVm.map((v) => v.notificationMs!);
    expect(times.every((t) => t > 0 && t < 1000)).toBe(true);
    expect(r.notifications!.firstMs).toBe(Math.min(...times));
    expect(r.notifications!.lastMs).toBe(Math.max(...times));
    expect(r.detection!.linkDownAt!).toBeLessThan(r.detection!.detectedAt);
    // The lab put the link back once the run was done with it: it stopped the script (SIGTERM), which
    // brought the link up itself and logged it, long before its 30 s timer.
    expect(r.faultLog!.restoredAt!).toBeGreaterThan(r.detection!.detectedAt);
    expect(r.faultLog!.upAt!).toBeGreaterThan(r.detection!.detectedAt);
    expect(r.faultLog!.upAt! - r.faultLog!.downAt!).toBeLessThan(30_000);
    expect(r.detection!.report).toEqual({ ok: true, attempts: 1, status: 200 });
    expect(r.monitor).toEqual({ profile: 'doctor', transport: 'batch' }); // the monitor's own socket, built at npm install
    expect(Object.values(r.verification!.hostStatus)).toEqual(['DOWN', 'DOWN', 'DOWN']);
    expect(Object.values(r.verification!.vmStatus)).toEqual(['ERROR', 'ERROR', 'ERROR']);
    expect(r.inspector!.vms).toHaveLength(3);
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    const onDisk = JSON.parse(readFileSync(join(work, 'results', r.runId, 'results.json'), 'utf8'));
    expect(onDisk.notifications.perVm).toHaveLength(3);
    expect(JSON.stringify(onDisk)).not.toContain(cloud.cloud.adminPassword);
    for (const c of ['orchestrator', 'openstack', 'inspector', 'consumer', 'monitor']) expect(existsSync(join(work, 'results', r.runId, 'logs', `${c}.log`))).toBe(true);
    const logs = readdirSync(join(work, 'results', r.runId, 'logs')).map((f) => readFileSync(join(work, 'results', r.runId, 'logs', f), 'utf8')).join('');
    expect(logs).not.toContain(cloud.cloud.adminPassword);
    expectNothingLeft(r, cloud);
  });

  it('passes with VM_COUNT=20', async () => {
    const { results: r, cloud } = await run({ vmCount: 20 });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(r.notifications!.received).toBe(20);
    expect(r.notifications!.perVm.every((v) => v.notificationMs! > 0 && v.notificationMs! < 1000)).toBe(true);
    expectNothingLeft(r, cloud);
  });

  it('--inspector-command: the user\'s own inspector (here `doctor inspector`, a process of its own) starts once the VMs exist, does the work, and is stopped at the end', async () => {
    const command = `exec ${process.execPath} ${join(ROOT, 'bin', 'doctor.js')} inspector --port {port}`;
    const { results: r, cloud, lines } = await run({ vmCount: 3, inspectorCommand: command });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(r.notifications).toMatchObject({ expected: 3, received: 3 });
    expect(Object.values(r.verification!.vmStatus)).toEqual(['ERROR', 'ERROR', 'ERROR']);
    // The run's own inspector did not run; the user's did, started once the VMs were up (and their alarms made), where Doctor's harness starts its inspector.
    expect(r.inspector).toBeUndefined();
    expect(r.inspectorCommand).toMatchObject({ command, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(lines.findIndex((l) => l.startsWith('starting your inspector')), lines.join('\n')).toBeGreaterThan(lines.findIndex((l) => /VM\(s\) ACTIVE$/.test(l)));
    expect(summary(r)).toContain(`  inspector: yours (${command}) at ${r.inspectorCommand!.url}; what it did (checkpoints 2–4) is not seen from outside`);
    // Stopped by the run (SIGTERM to its group), and nothing it forced down is left so.
    expect(r.inspectorCommand!.exit).toBeDefined();
    expect(processStart(r.inspectorCommand!.pid)).toBeUndefined();
    expectNothingLeft(r, cloud);
  });

  it('--inspector-command whose inspector leaves the host forced down: the run clears it, and stops the inspector', async () => {
    // An inspector that answers every event and undoes nothing on stop; the host is forced down
    // (as it would have done) once the monitor saw the failure.
    const inspector = [
      'import http.server, sys',
      'class H(http.server.BaseHTTPRequestHandler):',
      '    def do_PUT(self):',
      '        self.rfile.read(int(self.headers.get("Content-Length", 0)))',
      '        self.send_response(200); self.end_headers(); self.wfile.write(b"OK")',
      '    do_GET = do_PUT',
      'http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()',
    ].join('\n');
    const dir = mkdtempSync(join(work, 'inspector-'));
    writeFileSync(join(dir, 'inspector.py'), inspector);
    let forced: string | undefined;
    const { results: r, cloud } = await run({ vmCount: 1, notifyTimeoutS: 1, inspectorCommand: `exec /usr/bin/python3 ${join(dir, 'inspector.py')} {port}` }, {
      onLine: (l, c) => {
        if (!/ down, detected;/.test(l)) return;
        const svc = [...c.cloud.state.services.values()].find((x) => l.startsWith(`${x.host} `))!;
        svc.forcedDown = true;
        forced = svc.host;
      },
    });
    // Nothing reset the VM, so no alarm came: a failed run, cleaned up all the same.
    expect(r.verdict).toBe('FAIL');
    expect(forced).toBe(r.host!.name);
    expect(processStart(r.inspectorCommand!.pid)).toBeUndefined();
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    expectNothingLeft(r, cloud);
  });

  it('--inspector-command that exits at once: the run ends with an error naming the setting and what it printed, and cleans up', async () => {
    const { results: r, cloud } = await run({ vmCount: 1, inspectorCommand: 'echo "no such inspector on {port}" >&2; exit 3' });
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/^--inspector-command exited \(status 3\) before listening on 127\.0\.0\.1:\d+; it printed: no such inspector on \d+$/);
    expectNothingLeft(r, cloud);
  });

  /**
   * The failing host seen from outside when the run says it was detected: its link, its sshd's
   * process state, the packets its fault's filter dropped so far, and (started then) sshd's greeting
   * over TCP. The run's lab is the one lab folder under the results (earlier runs' went with them).
   */
  const observing = () => {
    let seen: { link: 'UP' | 'DOWN'; sshdStopped: Promise<boolean>; dropped?: number; greeting: Promise<string> } | undefined;
    const onLine = (l: string) => {
      if (!/ down, detected;/.test(l) || seen) return;
      const labs = readdirSync(join(work, 'results')).map((d) => join(work, 'results', d, 'lab', 'lab.json')).filter(existsSync);
      expect(labs).toHaveLength(1);
      const host = (JSON.parse(readFileSync(labs[0]!, 'utf8')) as { hosts: Array<{ name: string; namespace: string; vethHost: string; hostIp: string; sshdPid: number }> })
        .hosts.find((h) => l.startsWith(`${h.name} `))!;
      const ipt = (...args: string[]) => execFileSync('ip', ['netns', 'exec', host.namespace, 'iptables', '-w', ...args], { encoding: 'utf8' });
      const chain = /^-N (DOCTOR-\w+)$/m.exec(ipt('-S'))?.[1];
      const drops = chain ? ipt('-L', chain, '-v', '-n', '-x').split('\n').filter((x) => / DROP /.test(x)).map((x) => Number(x.trim().split(/\s+/)[0])) : [];
      seen = {
        link: /[<,]UP[,>]/.test(execFileSync('ip', ['-n', host.namespace, '-o', 'link', 'show', 'dev', host.vethHost], { encoding: 'utf8' })) ? 'UP' : 'DOWN',
        // A freeze cuts the traffic first (that is the instant logged), then stops the processes one by one.
        sshdStopped: new Promise((resolve) => {
          const deadline = Date.now() + 1_500;
          const poll = setInterval(() => {
            const state = processState(host.sshdPid);
            if (state === 'T' || state === undefined || Date.now() > deadline) {
              clearInterval(poll);
              resolve(state === 'T');
            }
          }, 1);
        }),
        ...(chain ? { dropped: drops.reduce((x, y) => x + y, 0) } : {}),
        greeting: new Promise((resolve) => {
          const socket = connect(22, host.hostIp);
          socket.setTimeout(1_000, () => socket.destroy(new Error('no SSH greeting within 1 s')));
          socket.once('data', (d) => {
            resolve(String(d).trim());
            socket.destroy();
          });
          socket.once('error', (err) => resolve(`no greeting: ${err.message}`));
        }),
      };
    };
    return { onLine, seen: () => seen! };
  };

  /** Each fault as the host looks from outside at detection: its link, whether its sshd gets stopped, a packet filter, sshd's greeting over TCP. */
  const FAULT_RUNS: Array<{ fault: string; what: string; vms: number; link: 'UP' | 'DOWN'; sshdStopped: boolean; filter: boolean; greets?: boolean }> = [
    { fault: 'icmp-blackhole', what: 'a gray failure: only ICMP is cut', vms: 2, link: 'UP', sshdStopped: false, filter: true, greets: true },
    { fault: 'icmp-loss:100', what: 'every probe lost, all else through', vms: 1, link: 'UP', sshdStopped: false, filter: true, greets: true },
    { fault: 'freeze', what: 'a hung host: its processes stopped, its traffic dropped, its link up', vms: 1, link: 'UP', sshdStopped: true, filter: true, greets: false },
    { fault: 'power-off', what: 'a lab host powered off: its link down, its processes stopped', vms: 1, link: 'DOWN', sshdStopped: true, filter: false, greets: false },
    // The lab puts the host back once the alarm came, so the flap is cut short after its first outage.
    { fault: 'flap:3x400', what: 'the first of three outages', vms: 1, link: 'UP', sshdStopped: false, filter: true },
  ];
  for (const f of FAULT_RUNS) {
    it(`--fault ${f.fault}, ${f.what}: the host seen so from outside at detection; detected, notified, put back`, async () => {
      const host = observing();
      const { results: r, cloud } = await run({ vmCount: f.vms, fault: f.fault }, { onLine: host.onLine });
      expect(r.verdict, r.reason).toBe('PASS');
      expect(r.notifications!.received).toBe(f.vms);
      expect(r.host!.fault).toBe(f.fault);
      expect(host.seen().link).toBe(f.link);
      expect(await host.seen().sshdStopped).toBe(f.sshdStopped);
      if (f.filter) expect(host.seen().dropped!).toBeGreaterThan(0);
      else expect(host.seen().dropped).toBeUndefined();
      if (f.greets !== undefined) expect(await host.seen().greeting).toMatch(f.greets ? /^SSH-2\.0-/ : /^no greeting/);
      expect(r.faultLog).toMatchObject({ fault: f.fault });
      if (f.filter) expect(r.faultLog!.dropped!).toBeGreaterThanOrEqual(host.seen().dropped!);
      if (f.sshdStopped) expect(r.faultLog!.frozen!).toBeGreaterThanOrEqual(1);
      expect(r.detection!.detectedAt).toBeGreaterThan(r.faultLog!.downAt!);
      expect(r.faultLog!.upAt! - r.faultLog!.downAt!).toBeLessThan(30_000); // the lab put it back, not the script's timer
      expect(summary(r).join('\n')).toMatch(new RegExp(`host compute-\\d \\(198\\.18\\.\\d+\\.\\d+\\) ${f.fault} → detected in [\\d.]+ ms`));
      expectNothingLeft(r, cloud);
    });
  }

  it('--fault power-off through a power driver: its off command with the host and its address, its on command once the run is done; checkpoint 0 on this machine\'s clock', async () => {
    const calls = join(work, 'power-calls-inprocess');
    const fake = join(ROOT, 'test/helpers/fake-power.sh');
    const host = observing();
    const { results: r, cloud } = await run({ vmCount: 1, fault: 'power-off', powerOffCommand: `${fake} ${calls} off {host} {ip}`, powerOnCommand: `${fake} ${calls} on {host} {ip}` }, { onLine: host.onLine });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(host.seen().link).toBe('DOWN'); // what this fake driver does to a lab host
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([`off ${r.host!.name} ${r.host!.ip}`, `on ${r.host!.name} ${r.host!.ip}`]);
    expect(r.faultLog).toMatchObject({ fault: 'power-off', clock: 'harness', power: [{ command: 'off', exitCode: 0 }, { command: 'on', exitCode: 0 }] });
    expect(r.faultLog!.downAt!).toBeLessThan(r.detection!.detectedAt);
    expect(r.faultLog!.upAt!).toBeGreaterThan(r.detection!.detectedAt);
    const zero = r.profile!.timelines[0]!.checkpoints[0]!;
    expect(zero).toMatchObject({ source: 'power driver (off command, its midpoint)', clock: 'harness', at: r.faultLog!.downAt });
    expect(zero.uncertaintyMs!).toBeGreaterThan(0);
    expectNothingLeft(r, cloud);
  });

  it('fails with a clear reason when the alarm never comes, and still cleans up', async () => {
    const { results: r, cloud } = await run({ vmCount: 1, labDropWebhooks: true, notifyTimeoutS: 2 });
    expect(r.verdict).toBe('FAIL');
    expect(r.reason).toMatch(/1 of 1 alarm\(s\) never reached the consumer within 2000 ms/);
    expect(r.notifications!.received).toBe(0);
    expect(cloud.cloud.trace.some((p) => p.hop === 'webhook_dropped')).toBe(true);
    expect(r.cleanup.ok).toBe(true);
    expectNothingLeft(r, cloud);
  });

  it('VMs that Nova refuses to create end the run with an error, and everything made before is removed', async () => {
    // POSTs to compute: the flavor, then the servers (one multi-create request), which answers 500.
    let lab: LabCloud | undefined;
    const config = loadConfig({ env: {}, flags: { vmCount: 6, inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results') }, readFile: () => undefined, cwd: work });
    const r = await runFaultManagement(config, {
      signal: new AbortController().signal, ledgerDir: ledgers(), progress: () => {},
      onLabCloud: (c) => {
        lab = c;
        c.cloud.faults.failApi('compute', 500, { method: 'POST', count: 1, after: 1 });
      },
    });
    expect(r.verdict, JSON.stringify(r.notifications)).toBe('ERROR');
    expect(r.reason).toMatch(/500/);
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    expectNothingLeft(r, lab!);
  });

  it('an interruption while waiting ends with nothing left', async () => {
    const { results: r, cloud } = await run({ vmCount: 2, labDropWebhooks: true, notifyTimeoutS: 60 }, { abortWhen: /waiting for \d+ alarm/ });
    expect(r.verdict).toBe('INTERRUPTED');
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    expectNothingLeft(r, cloud);
  });
});

describe('doctor run and doctor cleanup as processes', () => {
  const env = () => ({ ...process.env, XDG_STATE_HOME: join(work, 'cli-state'), OS_CLOUD: '', OS_AUTH_URL: '' });
  const start = (args: string[]) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'run', '--inspector-port', '0', '--consumer-port', '0', '--results-dir', join(work, 'cli-results'), ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    return { p, out: () => out, exit: new Promise<number | null>((r) => p.once('exit', (c) => r(c))) };
  };
  const runIdOf = (out: string) => /doctor run (\S+):/.exec(out)![1]!;

  it('SIGINT while waiting: exit 130, everything removed', async () => {
    const run = start(['--lab-drop-webhooks', '--notify-timeout', '60']);
    await eventually(() => (/waiting for 1 alarm/.test(run.out()) ? true : undefined), 30_000, () => `the run to wait for alarms; it printed: ${run.out()}`);
    run.p.kill('SIGINT');
    expect(await run.exit).toBe(130);
    expect(run.out()).toMatch(/INTERRUPTED/);
    const runId = runIdOf(run.out());
    expect(runLeftovers(join(work, 'cli-results'), runId)).toEqual(NOTHING_LEFT);
    expect(existsSync(join(cliLedgers(), `${runId}.jsonl`))).toBe(false);
  });

  it('SIGINT at any instant of the injection: exit 130, a complete cleanup, the link never left down, no crash', async () => {
    // 0 ms: while the script is being uploaded; later: while it waits for the session to end, then with the link down.
    for (const delayMs of [0, 100, 300, 600, 1200]) {
      const run = start(['--lab-drop-webhooks', '--notify-timeout', '60']);
      await eventually(() => (/injecting a 30 s link-down/.test(run.out()) ? true : undefined), 30_000, () => `the injection; the run printed: ${run.out()}`);
      await new Promise((r) => setTimeout(r, delayMs));
      const sent = Date.now();
      run.p.kill('SIGINT');
      const code = await run.exit;
      console.log(`SIGINT ${delayMs} ms after the injection started: exit ${code} ${Date.now() - sent} ms later`);
      const out = run.out();
      expect(out, `SIGINT ${delayMs} ms after the injection started`).not.toMatch(/Unhandled|unexpected error|cleanup incomplete|NOT clean/);
      expect(code, out).toBe(130);
      const runId = runIdOf(out);
      const results = JSON.parse(readFileSync(join(work, 'cli-results', runId, 'results.json'), 'utf8')) as RunResults;
      expect(results.cleanup, `SIGINT ${delayMs} ms after the injection started`).toEqual({ ok: true, errors: [] });
      expect(runLeftovers(join(work, 'cli-results'), runId)).toEqual(NOTHING_LEFT);
      expect(existsSync(join(cliLedgers(), `${runId}.jsonl`))).toBe(false);
    }
  }, 180_000);

  it('a power driver\'s host after a SIGKILL of the run: its own timer powers it on after --fault-duration, and doctor cleanup does too', async () => {
    const calls = join(work, 'power-calls-killed');
    const fake = join(ROOT, 'test/helpers/fake-power.sh');
    const run = start(['--fault', 'power-off', '--fault-duration', '2', '--lab-drop-webhooks', '--notify-timeout', '60',
      '--power-off-command', `${fake} ${calls} off {host} {ip}`, '--power-on-command', `${fake} ${calls} on {host} {ip}`]);
    await eventually(() => (/waiting for 1 alarm/.test(run.out()) ? true : undefined), 30_000, () => `the run to wait for alarms; it printed: ${run.out()}`);
    run.p.kill('SIGKILL');
    await run.exit;
    const [off] = readFileSync(calls, 'utf8').trim().split('\n');
    expect(off).toMatch(/^off compute-\d 198\.18\.\d+\.\d+$/);
    // Nobody but the timer: the host is powered on after the fault's 2 s.
    await eventually(() => (readFileSync(calls, 'utf8').includes('\non ') ? true : undefined), 10_000, 'the timer to power the host on');
    const cleanup = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'cleanup'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cleanup.stdout!.on('data', (d) => (out += d));
    expect(await new Promise((r) => cleanup.once('exit', r))).toBe(0);
    expect(out).toMatch(/powered compute-\d \(198\.18\.\d+\.\d+\) on/);
    const on = off!.replace(/^off/, 'on');
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([off, on, on]);
    expect(existsSync(join(cliLedgers(), `${runIdOf(run.out())}.jsonl`))).toBe(false);
  });

  it('doctor cleanup removes what a killed run left', async () => {
    const run = start(['--lab-drop-webhooks', '--notify-timeout', '60']);
    await eventually(() => (/waiting for 1 alarm/.test(run.out()) ? true : undefined), 30_000, () => `the run to wait for alarms; it printed: ${run.out()}`);
    run.p.kill('SIGKILL');
    await run.exit;
    const runId = runIdOf(run.out());
    const before = runLeftovers(join(work, 'cli-results'), runId);
    expect(before.namespaces).toHaveLength(2);
    expect(existsSync(join(cliLedgers(), `${runId}.jsonl`))).toBe(true);
    // The simulated cloud's folder (its clouds.yaml, its admin password): beside the ledger, private, named by the run.
    const cloudDirs = () => readdirSync(cliLedgers()).filter((f) => f.startsWith(`${runId}.cloud-`));
    expect(cloudDirs()).toHaveLength(1);
    expect(statSync(join(cliLedgers(), cloudDirs()[0]!)).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(cliLedgers(), cloudDirs()[0]!)).sort()).toEqual(['admin-password', 'clouds.yaml']);
    const cleanup = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'cleanup'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cleanup.stdout!.on('data', (d) => (out += d));
    expect(await new Promise((r) => cleanup.once('exit', r))).toBe(0);
    expect(out).toMatch(/cleaned/);
    expect(labLeftovers(/doctor-(\w+)-compute/.exec(before.namespaces[0]!)![1]!, join(work, 'cli-results', runId, 'lab'))).toEqual(NOTHING_LEFT);
    expect(existsSync(join(cliLedgers(), `${runId}.jsonl`))).toBe(false);
    expect(cloudDirs()).toEqual([]);
  });
});

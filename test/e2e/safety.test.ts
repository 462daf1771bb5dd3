/**
 * The fault's own safety, against a configured cloud (a simulated one, with lab hosts standing in for
 * computes the harness does not own): no fault on a host it cannot reach first, and a link that comes
 * back by the host's own timer even when the harness is killed. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type LabCloud, type LabHostState, type LabState } from '../../src/lab/index.js';
import { loadConfig } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { runCleanup } from '../../src/cli/run.js';
import { temporaryLab } from '../helpers/hosts.js';
import { eventually } from '../helpers/lab.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const linkUp = (h: LabHostState) => /[<,]UP[,>]/.test(execFileSync('ip', ['-n', h.namespace, '-o', 'link', 'show', 'dev', h.vethHost], { encoding: 'utf8' }));

describe('the safety of the fault', () => {
  let work: string;
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let state: LabState;
  let cloud: LabCloud;
  const env = () => ({ ...process.env, OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'ext', XDG_STATE_HOME: join(work, 'state') });
  const cloudIsEmpty = () => {
    const s = cloud.cloud.state;
    expect(s.servers.size).toBe(0);
    expect(s.alarms.size).toBe(0);
    expect([...s.projects.values()].map((p) => p.name).sort()).toEqual(['admin', 'service']);
    expect([...s.services.values()].some((x) => x.forcedDown)).toBe(false);
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-safety-'));
    lab = await temporaryLab(2, 'doctor-safety-lab-');
    state = lab.state;
    cloud = await startCloud({ hosts: state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })), buildDelayMs: 20 });
    writeFileSync(join(work, 'clouds.yaml'), cloud.cloudsYaml('ext'), { mode: 0o600 });
  });
  afterAll(async () => {
    await abortRuns();
    await runCleanup(env(), () => {});
    await cloud?.stop();
    await lab?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('refuses to inject when it cannot first reach the host over SSH', async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'stranger')]); // a key no host authorises
    const config = loadConfig({
      env: env(), readFile: (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined), cwd: work,
      // The simulated cloud has no controller files to set up.
      flags: { sshKey: join(work, 'stranger'), sshUser: 'root', knownHosts: state.knownHosts, faultDurationS: 2, inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results'), skipControllerSetup: true },
    });
    const lines: string[] = [];
    const r = await runFaultManagement(config, { signal: new AbortController().signal, progress: (l) => lines.push(l), ledgerDir: join(work, 'state', 'doctor-harness', 'ledgers') });
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/^refusing to inject: SSH to root@198\.18\.\d+\.\d+:22 failed: All configured authentication methods failed/);
    expect(lines.some((l) => /injecting/.test(l))).toBe(false);
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    for (const h of state.hosts) {
      expect(linkUp(h)).toBe(true);
      expect(readdirSync(h.dir).filter((f) => f.startsWith('doctor-fault-'))).toEqual([]);
    }
    cloudIsEmpty();
  });

  it('the link comes back by the host\'s own timer when the harness is SIGKILLed after the injection; doctor cleanup then clears the cloud', async () => {
    const durationS = 3;
    const started = Date.now() - 1_000;
    const p = spawn(process.execPath, [
      join(ROOT, 'bin/doctor.js'), 'run', '--ssh-user', 'root', '--ssh-key', state.harnessKey, '--known-hosts', state.knownHosts, '--fault-duration', String(durationS),
      '--notify-timeout', '60', '--lab-drop-webhooks', '--inspector-port', '0', '--consumer-port', '0', '--results-dir', join(work, 'cli-results'), '--skip-controller-setup',
    ], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    const exited = new Promise((r) => p.once('exit', r));
    try {
      const host = await eventually(() => {
        const m = /injecting a \d+ s link-down on (\S+)/.exec(out);
        return m ? state.hosts.find((h) => h.name === m[1]) : undefined;
      }, 30_000, () => `the injection; the run printed: ${out}`);
      await eventually(() => (linkUp(host) ? undefined : true), 10_000, 'the link to go down');
      const downSeen = Date.now();
      p.kill('SIGKILL');
      await exited;
      // Nobody is left to restore it but the script on the host.
      await eventually(() => (linkUp(host) ? true : undefined), (durationS + 2) * 1000, `${host.name}'s link to come back within ${durationS} + 2 s`);
      // A host the run does not own keeps the script and its log in /tmp (this one shares the machine's files).
      // The script writes "up" just after it sets the link up: wait for the line, not only for the link.
      const files = readdirSync('/tmp').filter((f) => /^doctor-fault-\d+-[0-9a-f]+\.(sh|log)$/.test(f) && statSync(join('/tmp', f)).mtimeMs >= started);
      const readLog = () => files.filter((f) => f.endsWith('.log')).map((f) => readFileSync(join('/tmp', f), 'utf8')).join('');
      const log = await eventually(() => (/^up \d+\.\d+$/m.test(readLog()) ? readLog() : undefined), 5_000, () => `the script's "up" line; its log: ${readLog()}`);
      for (const f of files) rmSync(join('/tmp', f), { force: true });
      expect(log).toMatch(/^down \d+\.\d+$/m);
      expect(log).toMatch(/^up \d+\.\d+$/m);
      console.log(`link back ${Date.now() - downSeen} ms after it was seen down (fault ${durationS} s)`);
    } finally {
      p.kill('SIGKILL');
    }
    // The run's ledger names the cloud it used: doctor cleanup removes what the killed run left there.
    const lines: string[] = [];
    expect(await runCleanup(env(), (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toMatch(/cleaned/);
    cloudIsEmpty();
  }, 60_000);
});

/**
 * Secrets: a whole `doctor run` as a process, against a configured cloud (simulated, in this test, so its
 * passwords are known) with known secret values — the admin password, the test user's password, the
 * OSProfiler HMAC key, a password in TEST_DB_URL, the inspector token. None may appear in any log, result
 * file or report, nor in the command line or environment of any process the run starts (read from /proc
 * while it runs). The run's services listen on 127.0.0.1 and the inspector refuses events without the
 * token. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type LabCloud, type LabState } from '../../src/lab/index.js';
import { freePort } from '../../src/shared/index.js';
import { runCleanup } from '../../src/cli/run.js';
import { temporaryLab } from '../helpers/hosts.js';
import { recordingServer, type RecordingServer } from '../helpers/http.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p))!;
const SECRET = {
  hmacKey: 'hmac-key-4f1c9e0d7a2b',
  testDbPassword: 'testdb-pw-8b3e61d0c5',
  inspectorToken: 'inspector-token-2a7f90c4e1d85b36',
};

/** Every process whose parent chain leads to `root`. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/** Listening TCP sockets on `port` (IPv4 and IPv6), as "address:port" in /proc's hex. */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => readFileSync(f, 'utf8').split('\n').slice(1)
    .map((l) => l.trim().split(/\s+/)).filter((c) => c[3] === '0A' && c[1]?.endsWith(`:${hex}`)).map((c) => c[1]!));
}

describe('no secret leaves the run', () => {
  let work: string;
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let state: LabState;
  let cloud: LabCloud;
  let testDb: RecordingServer;
  const env = () => ({
    // Every `ip` the run starts goes through a wrapper that writes down its command line and environment: a
    // command that lives 2 ms can slip between two readings of /proc, a line in this log cannot.
    ...process.env, PATH: `${join(work, 'bin')}:${process.env['PATH']}`, OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'ext', XDG_STATE_HOME: join(work, 'state'),
    TEST_DB_URL: `http://ci:${SECRET.testDbPassword}@127.0.0.1:${new URL(testDb.url).port}/api/v1/results`, DOCTOR_INSPECTOR_TOKEN: SECRET.inspectorToken,
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-secrets-'));
    lab = await temporaryLab(2, 'doctor-secrets-lab-');
    state = lab.state;
    cloud = await startCloud({ hosts: state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })), buildDelayMs: 20 });
    writeFileSync(join(work, 'clouds.yaml'), cloud.cloudsYaml('ext').replace('    interface:', `    profile: ${SECRET.hmacKey}\n    interface:`), { mode: 0o600 });
    testDb = await recordingServer();
    mkdirSync(join(work, 'bin'));
    writeFileSync(join(work, 'bin', 'ip'), `#!/bin/sh\n{ tr '\\0' ' ' < /proc/$$/cmdline; echo; tr '\\0' ' ' < /proc/$$/environ; echo; } >> ${join(work, 'ip-calls.log')}\nexec ${IP} "$@"\n`, { mode: 0o755 });
  });
  afterAll(async () => {
    await runCleanup(env(), () => {});
    await testDb?.close();
    await cloud?.stop();
    await lab?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('a full run: zero hits in logs, results, reports, and in the command lines and environments of its processes', async () => {
    const [inspectorPort, consumerPort] = [await freePort(), await freePort()];
    const p = spawn(process.execPath, [
      // --lab-state-dir: the hosts are lab hosts, so the run starts children of its own (ip route get, ip link set).
      join(ROOT, 'bin/doctor.js'), 'run', '--vm-count', '2', '--ssh-key', state.harnessKey, '--known-hosts', state.knownHosts, '--lab-state-dir', state.stateDir,
      '--inspector-port', String(inspectorPort), '--consumer-port', String(consumerPort), '--results-dir', join(work, 'results'), '--skip-controller-setup', // the simulated cloud has no controller files
    ], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    // While it runs: every process it started (command line and environment), the test user's password
    // as the cloud keeps it, who listens on the run's ports, and whether the inspector wants its token.
    const seen: string[] = [];
    const userPasswords = new Set<string>();
    let bound: string[] = [];
    let tokenless: number | undefined;
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      const own = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      for (const pid of descendants(p.pid!)) {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          // A child caught between fork and exec is still a copy of the run: its environment is the run's
          // own (which holds what the test gave it), not the one it will be started with. Read it once exec'd.
          if (cmdline === own) continue;
          seen.push(`${pid} cmdline: ${cmdline.replace(/\0/g, ' ')}`);
          seen.push(`${pid} environ: ${readFileSync(`/proc/${pid}/environ`, 'utf8').replace(/\0/g, ' ')}`);
        } catch {
          /* exited meanwhile */
        }
      }
      seen.push(`${p.pid} cmdline: ${own.replace(/\0/g, ' ')}`);
      for (const u of cloud.cloud.state.users.values()) if (u.name !== 'admin') userPasswords.add(u.password);
      if (tokenless === undefined && /waiting for \d+ alarm/.test(out)) {
        bound = [...listeners(inspectorPort), ...listeners(consumerPort)];
        tokenless = (await fetch(`http://127.0.0.1:${inspectorPort}/events`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[]' })).status;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await exited, out).toBe(0);
    expect(out).toMatch(/PASS/);

    // The run's own services: loopback only, and the inspector refused a sender without the token.
    expect(bound.sort()).toEqual([`0100007F:${inspectorPort.toString(16).toUpperCase().padStart(4, '0')}`, `0100007F:${consumerPort.toString(16).toUpperCase().padStart(4, '0')}`].sort());
    expect(tokenless).toBe(401);
    // The SSH keys the lab made for the harness are readable by their owner only.
    for (const key of [state.harnessKey, `${state.harnessKey}.pub`, state.knownHosts]) expect((statSync(key).mode & 0o777).toString(8), key).toBe('600');

    const secrets = { ...SECRET, adminPassword: cloud.cloud.adminPassword, ...Object.fromEntries([...userPasswords].map((pw, i) => [`testUserPassword${i}`, pw])) };
    expect(userPasswords.size, 'the test user was seen').toBeGreaterThan(0);
    // Everything the run wrote: results, logs, reports, the history, ledgers; what it printed; what it sent the TestAPI.
    const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)])) : []);
    const written = [...files(join(work, 'results')), ...files(join(work, 'state'))];
    expect(written.some((f) => f.endsWith('results.json'))).toBe(true);
    expect(written.some((f) => f.endsWith('report.html'))).toBe(true);
    expect(written.some((f) => f.endsWith('orchestrator.log'))).toBe(true);
    const places: Array<[string, string]> = [
      ...written.map((f): [string, string] => [f, readFileSync(f, 'utf8')]),
      ['the run\'s output', out],
      ['the TestAPI request body', JSON.stringify(testDb.received.map((r) => r.body))],
      ...seen.map((s): [string, string] => [`process ${s.split(':')[0]}`, s]),
      ['the ip commands the run started (their command lines and environments)', readFileSync(join(work, 'ip-calls.log'), 'utf8')],
    ];
    const ipCalls = readFileSync(join(work, 'ip-calls.log'), 'utf8').split('\n').filter((l) => /^ip /.test(l) || /\/ip /.test(l)).length;
    expect(ipCalls, 'ip commands the run started were seen').toBeGreaterThan(0);
    expect(testDb.received).toHaveLength(1);
    const children = new Set(seen.map((x) => x.split(' ')[0]).filter((pid) => pid !== String(p.pid)));
    const hits = places.flatMap(([where, text]) => Object.entries(secrets).filter(([, v]) => text.includes(v)).map(([name]) => `${name} in ${where}`));
    console.log(`secrets: ${Object.keys(secrets).length} secret values searched in ${written.length} files, the output, the TestAPI body ${seen.length} /proc readings of the run and ${children.size} processes caught alive, and ${ipCalls} ip commands it started: ${hits.length} hits`);
    expect(hits).toEqual([]);
  }, 120_000);
});

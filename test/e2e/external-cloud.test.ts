/**
 * doctor run against a configured cloud (clouds.yaml + OS_CLOUD, the user's SSH
 * key and known_hosts): here a lab cloud and lab hosts standing in for a real
 * one, so the test can look at the cloud afterwards. The cloud speaks TLS with a
 * private CA named by clouds.yaml `cacert`, as installer-built clouds do. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type LabCloud, type LabState } from '../../src/lab/index.js';
import { loadConfig } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { temporaryLab } from '../helpers/hosts.js';

describe('doctor run against a configured cloud', () => {
  let work: string;
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let state: LabState;
  let cloud: LabCloud;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-ext-'));
    lab = await temporaryLab(2, 'doctor-ext-lab-');
    state = lab.state;
    // A private CA and a server certificate it signed (the client must trust the CA, not the server's own certificate).
    const pki = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'ignore' });
    pki('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=doctor test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
    pki('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    writeFileSync(join(work, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    pki('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem');
    cloud = await startCloud({
      hosts: state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })), buildDelayMs: 20,
      tls: { key: readFileSync(join(work, 'server.key')), cert: readFileSync(join(work, 'server.pem')) },
    });
    writeFileSync(join(work, 'clouds.yaml'), `${cloud.cloudsYaml('ext').replace('    interface:', `    cacert: ${join(work, 'ca.pem')}\n    interface:`)}`, { mode: 0o600 });
  });
  afterAll(async () => {
    await abortRuns();
    await cloud?.stop();
    await lab?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('provisions through the cloud, injects with the given SSH access, waits for the host to restore its link, and cleans up', async () => {
    const env = { OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'ext' };
    const config = loadConfig({
      env,
      // The simulated cloud has no controller files to set up.
      flags: { sshKey: state.harnessKey, knownHosts: state.knownHosts, sshUser: 'root', faultDurationS: 1, vmCount: 2, inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results'), skipControllerSetup: true },
      readFile: (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined),
      cwd: work,
    });
    expect(config.cloud.mode).toBe('cloud');
    expect(config.cloud.mode === 'cloud' && config.cloud.credentials.authUrl).toMatch(/^https:/);
    const r = await runFaultManagement(config, { signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers') });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(r.notifications!.received).toBe(2);
    // Nobody restored the link but the host's own fault script; the run read when.
    expect(r.faultLog!.upAt! - r.faultLog!.downAt!).toBeGreaterThanOrEqual(1000);
    const host = state.hosts.find((h) => h.hostIp === r.host!.ip)!;
    expect(execFileSync('ip', ['-n', host.namespace, '-o', 'link', 'show', 'dev', host.vethHost], { encoding: 'utf8' })).toMatch(/[<,]UP[,>]/);
    const s = cloud.cloud.state;
    expect(s.servers.size).toBe(0);
    expect(s.alarms.size).toBe(0);
    expect([...s.projects.values()].map((p) => p.name).sort()).toEqual(['admin', 'service']);
    expect([...s.users.values()].map((u) => u.name)).toEqual(['admin']);
    expect([...s.services.values()].some((x) => x.forcedDown)).toBe(false);
    expect(existsSync(join(work, 'ledgers', `${r.runId}.jsonl`))).toBe(false);
    expect(JSON.stringify(r)).not.toContain(cloud.cloud.adminPassword);
  });
});

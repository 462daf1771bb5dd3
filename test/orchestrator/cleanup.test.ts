/** doctor cleanup: the cloud a run recorded, never another; runs still going are left alone. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type LabCloud } from '../../src/lab/index.js';
import { Ledger } from '../../src/orchestrator/index.js';
import { createOpenStackClient } from '../../src/openstack/index.js';
import { runCleanup, ledgerDir } from '../../src/cli/run.js';
import { processStart } from '../../src/shared/index.js';
import { pidAlive } from '../../src/lab/hosts/state.js';
import { eventually } from '../helpers/lab.js';

describe('doctor cleanup', () => {
  let work: string;
  let a: LabCloud;
  let b: LabCloud;
  const env = (extra: Record<string, string>) => ({ XDG_STATE_HOME: join(work, 'state'), OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), ...extra });
  /** A ledger as a run that died wrote it: its process is gone. */
  const deadRunLedger = (runId: string, cloud: LabCloud, cloudName: string, projectId: string) => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const l = new Ledger(ledgerDir(env({})), runId, { owner: false });
    l.add({ kind: 'run', pid: gone, startedAt: new Date().toISOString(), processStart: '1' });
    l.add({ kind: 'cloud', authUrl: cloud.credentials().authUrl, embedded: false, cloudName });
    l.add({ kind: 'project', id: projectId, name: `doctor-${runId}` });
    return l.path;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-cleanup-'));
    a = await startCloud({ buildDelayMs: 5 });
    b = await startCloud({ buildDelayMs: 5 });
    writeFileSync(join(work, 'clouds.yaml'), `${a.cloudsYaml('a')}${b.cloudsYaml('b').replace(/^clouds:\n/, '')}`, { mode: 0o600 });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('cleans the cloud the run recorded, whatever OS_CLOUD names now', async () => {
    const project = [...a.cloud.state.projects.values()].find((p) => p.name === 'service')!;
    const id = `${project.id.slice(0, -4)}beef`;
    a.cloud.state.projects.set(id, { ...project, id, name: 'doctor-r1' });
    const path = deadRunLedger('r1', a, 'a', id);
    const lines: string[] = [];
    expect(await runCleanup(env({ OS_CLOUD: 'b' }), (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toMatch(/run r1: cleaned/);
    expect(a.cloud.state.projects.has(id)).toBe(false);
    expect(existsSync(path)).toBe(false);
  });

  it('refuses, naming both URLs and keeping the ledger, when the recorded cloud now names another Keystone', async () => {
    const project = [...a.cloud.state.projects.values()].find((p) => p.name === 'service')!;
    const id = `${project.id.slice(0, -4)}cafe`;
    a.cloud.state.projects.set(id, { ...project, id, name: 'doctor-r2' });
    const path = deadRunLedger('r2', a, 'a', id);
    // clouds.yaml's entry "a" now points at cloud b: every delete would answer 404 and count as removed.
    writeFileSync(join(work, 'clouds.yaml'), `${b.cloudsYaml('a')}`, { mode: 0o600 });
    const lines: string[] = [];
    expect(await runCleanup(env({}), (l) => lines.push(l))).toBe(1);
    const said = lines.join('\n');
    expect(said).toContain(a.credentials().authUrl);
    expect(said).toContain(b.credentials().authUrl);
    expect(said).toMatch(/run r2: NOT clean .*refusing to clean up against another cloud/);
    expect(existsSync(path)).toBe(true);
    expect(a.cloud.state.projects.has(id)).toBe(true);
    rmSync(path);
  });

  it('removes the project, user and flavor a run made but was killed before it could write down', async () => {
    writeFileSync(join(work, 'clouds.yaml'), `${a.cloudsYaml('a')}${b.cloudsYaml('b').replace(/^clouds:\n/, '')}`, { mode: 0o600 });
    const admin = createOpenStackClient({ credentials: a.credentials() });
    try {
      const name = 'doctor-r3';
      const project = await admin.identity.createProject({ name });
      await admin.identity.createUser({ name, password: 'pw-of-a-killed-run', defaultProjectId: project.id });
      await admin.compute.flavors.create({ name, ram: 64, vcpus: 1, disk: 1 });
      // The ledger names the run and its cloud only: it died right after the creates.
      const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
      const l = new Ledger(ledgerDir(env({})), 'r3', { owner: false });
      l.add({ kind: 'run', pid: gone, startedAt: new Date().toISOString(), processStart: '1' });
      l.add({ kind: 'cloud', authUrl: a.credentials().authUrl, embedded: false, cloudName: 'a' });
      expect(await runCleanup(env({}), () => {})).toBe(0);
      expect(await admin.identity.findProject(name)).toBeUndefined();
      expect(await admin.identity.findUser(name)).toBeUndefined();
      expect(await admin.compute.flavors.findByName(name)).toBeUndefined();
    } finally {
      admin.close();
    }
  });

  it('leaves the ledger of a run that is still running alone, and says so', async () => {
    const l = new Ledger(ledgerDir(env({})), 'live', { owner: false });
    l.add({ kind: 'run', pid: process.pid, startedAt: '2026-12-01T00:00:00.000Z', processStart: processStart(process.pid)! });
    l.add({ kind: 'cloud', authUrl: a.credentials().authUrl, embedded: false, cloudName: 'a' });
    const lines: string[] = [];
    expect(await runCleanup(env({}), (l2) => lines.push(l2))).toBe(0);
    expect(lines).toEqual([`run live: still running (PID ${process.pid}, since 2026-12-01T00:00:00.000Z): left alone`]);
    expect(existsSync(l.path)).toBe(true);
    // The same PID with another start time is another process (the PID was reused): the run is dead.
    l.close();
    const reused = new Ledger(ledgerDir(env({})), 'reused', { owner: false });
    reused.add({ kind: 'run', pid: process.pid, startedAt: '2026-12-01T00:00:00.000Z', processStart: '1' });
    expect(await runCleanup(env({}), () => {})).toBe(0);
    expect(existsSync(reused.path)).toBe(false);
  });

  it('removes the embedded cloud\'s folder of a dead run by its name, even one its ledger never noted; a live run\'s stays', async () => {
    const dir = ledgerDir(env({}));
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const dead = new Ledger(dir, 'r7', { owner: false });
    dead.add({ kind: 'run', pid: gone, startedAt: new Date().toISOString(), processStart: '1' });
    const live = new Ledger(dir, 'r8', { owner: false });
    live.add({ kind: 'run', pid: process.pid, startedAt: new Date().toISOString(), processStart: processStart(process.pid)! });
    for (const name of ['r7.cloud-abc123', 'r8.cloud-def456']) {
      mkdirSync(join(dir, name), { mode: 0o700 });
      writeFileSync(join(dir, name, 'clouds.yaml'), 'clouds: {}\n', { mode: 0o600 });
    }
    expect(await runCleanup(env({}), () => {})).toBe(0);
    expect(existsSync(join(dir, 'r7.cloud-abc123'))).toBe(false);
    expect(existsSync(join(dir, 'r8.cloud-def456'))).toBe(true);
    live.close();
    rmSync(join(dir, 'r8.cloud-def456'), { recursive: true, force: true });
  });

  it('stops a process a dead run left (the embedded cloud), but not another process that now has its PID', async () => {
    const left = spawn('sleep', ['30'], { stdio: 'ignore' });
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
      const l = new Ledger(ledgerDir(env({})), 'r9', { owner: false });
      l.add({ kind: 'run', pid: gone, startedAt: new Date().toISOString(), processStart: '1' });
      l.add({ kind: 'process', what: 'the simulated cloud', pid: left.pid!, processStart: processStart(left.pid!)! });
      l.add({ kind: 'process', what: 'the simulated cloud', pid: other.pid!, processStart: '1' }); // a reused PID
      l.add({ kind: 'cloud', authUrl: a.credentials().authUrl, embedded: true });
      const lines: string[] = [];
      expect(await runCleanup(env({}), (x) => lines.push(x))).toBe(0);
      expect(lines, lines.join('\n')).toContain(`run r9: stopped the simulated cloud (PID ${left.pid})`);
      await eventually(() => !pidAlive(left.pid!) || undefined, 5_000, 'the left process to stop');
      expect(pidAlive(other.pid!)).toBe(true);
      expect(existsSync(l.path)).toBe(false);
    } finally {
      left.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });
});

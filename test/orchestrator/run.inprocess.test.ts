/**
 * The whole run in this process, without root: the simulated cloud, real provisioning, services and
 * teardown, with a fake network and fault injector for the edges (RunDeps.edges). What is checked is
 * what a user sees: the verdict, the environment named, and a cloud left as it was found, also when the
 * run fails halfway.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type LabCloud } from '../../src/lab/index.js';
import { loadConfig, runFaultManagement, type SettingKey } from '../../src/orchestrator/index.js';
import { fakeEdges } from '../helpers/fake-edges.js';

const HOSTS = [{ name: 'compute-1', ip: '198.18.250.2' }, { name: 'compute-2', ip: '198.18.250.3' }];

describe('the run in-process (simulated cloud, fake network and injector)', () => {
  let work: string;
  let cloud: LabCloud;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-inproc-'));
    cloud = await startCloud({ hosts: HOSTS, buildDelayMs: 5 });
    writeFileSync(join(work, 'clouds.yaml'), cloud.cloudsYaml('inproc'), { mode: 0o600 });
  });
  afterEach(() => cloud.cloud.faults.reset());
  afterAll(async () => {
    await cloud?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const configWith = (flags: Partial<Record<SettingKey, string | number | boolean>>, env: Record<string, string> = {}) => loadConfig({
    env: { OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'inproc', ...env },
    flags: { sshKey: join(work, 'no-key-needed'), inspectorPort: 0, consumerPort: 0, faultDurationS: 1, resultsDir: join(work, 'results'), ...flags },
    readFile: (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    cwd: work,
  });
  const run = (config: ReturnType<typeof configWith>, edges: ReturnType<typeof fakeEdges>['edges']) =>
    runFaultManagement(config, { signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers'), edges });

  /** The cloud as the run found it: no test tenant, VM, alarm, flavor or forced-down service left. */
  function expectCloudAsFound(runId: string) {
    const s = cloud.cloud.state;
    expect(s.servers.size).toBe(0);
    expect(s.alarms.size).toBe(0);
    expect([...s.projects.values()].map((p) => p.name).sort()).toEqual(['admin', 'service']);
    expect([...s.users.values()].map((u) => u.name)).toEqual(['admin']);
    expect([...s.flavors.values()].some((f) => f.name.includes(runId))).toBe(false);
    expect([...s.services.values()].some((x) => x.forcedDown)).toBe(false);
    expect(existsSync(join(work, 'ledgers', `${runId}.jsonl`))).toBe(false);
  }

  it('local installer: passes at 3 VMs on the addresses COMPUTE_IP gives, names its controllers, and cleans up', async () => {
    const f = fakeEdges();
    const config = configWith({ vmCount: 3 }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS.map((h) => `${h.name}=${h.ip}`).join(','), CONTROLLER_IPS: '198.18.250.10 198.18.250.11' });
    const r = await run(config, f.edges);
    expect(r.verdict, r.reason).toBe('PASS');
    expect(r.notifications).toMatchObject({ expected: 3, received: 3 });
    expect(r.environment).toEqual({ name: 'local', controllers: [{ name: 'controller-1', ip: '198.18.250.10' }, { name: 'controller-2', ip: '198.18.250.11' }] });
    // The host's own timer brought the link back (nobody here can), and the run waited for it.
    expect(f.calls).toEqual([`reach ${r.host!.ip}`, `inject ${r.host!.ip}`, `await ${r.host!.ip}`]);
    expect(r.faultLog!.upAt).toBeGreaterThanOrEqual(r.faultLog!.downAt!);
    expect([...f.net.probed]).toEqual([r.host!.ip]); // only the VMs' host was probed
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    expectCloudAsFound(r.runId);
  });

  it('local installer: a compute not in COMPUTE_IP is looked up by its name; one that resolves nowhere ends the run with an error naming COMPUTE_IP, and the VMs it made are removed', async () => {
    const resolved = await run(configWith({ vmCount: 1 }, { INSTALLER_TYPE: 'local' }), fakeEdges({ resolve: Object.fromEntries(HOSTS.map((h) => [h.name, h.ip])) }).edges);
    expect(resolved.verdict, resolved.reason).toBe('PASS');
    expectCloudAsFound(resolved.runId);

    const f = fakeEdges();
    const r = await run(configWith({ vmCount: 2 }, { INSTALLER_TYPE: 'local' }), f.edges);
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/cannot find the address of compute host compute-\d: set COMPUTE_IP .*ENOTFOUND/);
    expect(f.calls).toEqual([]); // nothing was injected, nothing probed
    expect(f.net.probed.size).toBe(0);
    expect(r.cleanup.ok).toBe(true);
    expectCloudAsFound(r.runId);
  });

  it('devstack installer: the compute is Nova\'s host_ip, the controller the Keystone host; an unreachable host is refused before any fault', async () => {
    const f = fakeEdges({ unreachable: HOSTS.map((h) => h.ip) });
    const r = await run(configWith({ vmCount: 1 }), f.edges);
    expect(r.config['installer']).toMatchObject({ type: 'devstack' });
    expect(r.environment).toEqual({ name: 'devstack', controllers: [{ name: 'controller', ip: '127.0.0.1' }] });
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/^refusing to inject: connect ECONNREFUSED 198\.18\.250\.\d:22/);
    expect(HOSTS.map((h) => h.ip)).toContain(r.host!.ip);
    expect(f.calls).toEqual([`reach ${r.host!.ip}`]);
    expectCloudAsFound(r.runId);
  });

  it('a cloud that refuses the VMs: the run ends with an error and removes the tenant it made', async () => {
    cloud.cloud.faults.failApi('compute', 500, { method: 'POST', count: 100 });
    const f = fakeEdges();
    const r = await run(configWith({ vmCount: 2 }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS[0]!.ip }), f.edges);
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/500/);
    cloud.cloud.faults.reset();
    expect(r.cleanup, JSON.stringify(r.cleanup)).toMatchObject({ ok: true });
    expectCloudAsFound(r.runId);
  });
});

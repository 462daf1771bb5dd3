/** The embedded lab's compute hosts, for real: namespaces, veths, sshd. Needs root. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { labDown, labStatus, labUp, readState, startCloud } from '../../src/lab/index.js';
import { OpenStackClient } from '../../src/openstack/index.js';
import { eventually } from '../helpers/lab.js';
import { labLeftovers, NOTHING_LEFT, testLabId } from '../helpers/hosts.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const labs: Array<{ stateDir: string }> = [];
const newLab = () => {
  const lab = { labId: testLabId(), stateDir: join(mkdtempSync(join(tmpdir(), 'doctor-lab-')), 'state') };
  labs.push(lab);
  return lab;
};
const tcpBanner = (ip: string) =>
  new Promise<string>((resolve, reject) => {
    const s = connect({ host: ip, port: 22 });
    s.once('data', (d) => {
      s.destroy();
      resolve(String(d));
    });
    s.once('error', reject);
  });

afterEach(async () => {
  // Whatever a test did, its labs go.
  for (const l of labs.splice(0)) {
    await labDown({ stateDir: l.stateDir });
    rmSync(dirname(l.stateDir), { recursive: true, force: true });
  }
});

describe('doctor lab up / down', () => {
  it('brings up 3 hosts with sshd and known_hosts, is idempotent, and leaves nothing behind', async () => {
    const lab = newLab();
    const state = await labUp({ ...lab, hosts: 3 });
    expect(state.hosts.map((h) => h.name)).toEqual(['compute-1', 'compute-2', 'compute-3']);
    expect(state.hosts.every((h) => /^198\.1[89]\./.test(h.hostIp))).toBe(true);
    for (const h of state.hosts) expect(await tcpBanner(h.hostIp)).toMatch(/^SSH-2\.0-OpenSSH/);
    const known = readFileSync(state.knownHosts, 'utf8').trim().split('\n');
    expect(known).toHaveLength(3);
    expect(known[0]).toMatch(/^198\.1[89]\.\d+\.\d+ ssh-ed25519 AAAA/);
    for (const f of [state.harnessKey, state.knownHosts, join(state.hosts[0]!.dir, 'ssh_host_ed25519_key'), join(lab.stateDir, 'lab.json')]) {
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
    }
    const status = await labStatus(lab);
    expect(status.hosts.every((h) => h.namespacePresent && h.linkUp && h.sshdRunning && h.sshReachable)).toBe(true);

    const pids = state.hosts.map((h) => h.sshdPid);
    const again = await labUp({ ...lab, hosts: 3 });
    expect(again.hosts.map((h) => h.sshdPid)).toEqual(pids);

    const before = labLeftovers(lab.labId, lab.stateDir);
    expect(before.namespaces).toHaveLength(3);
    expect(before.links).toHaveLength(3);
    expect(before.processes.length).toBeGreaterThanOrEqual(3);
    await labDown(lab);
    expect(labLeftovers(lab.labId, lab.stateDir)).toEqual(NOTHING_LEFT);
  });

  it('down removes what an up killed halfway left behind', async () => {
    const lab = newLab();
    const up = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'lab', 'up', '--hosts', '3', '--lab-id', lab.labId, '--state-dir', lab.stateDir], { stdio: 'ignore' });
    // Kill it once the second host is recorded: the first exists, the second is being built.
    await eventually(() => {
      try {
        return readState(lab.stateDir)?.hosts.some((h) => h.name === 'compute-2') || undefined;
      } catch {
        return undefined;
      }
    }, 20_000, 'the second host to be recorded');
    up.kill('SIGKILL');
    await new Promise((r) => up.once('exit', r));
    const left = labLeftovers(lab.labId, lab.stateDir);
    expect(left.namespaces.length).toBeGreaterThanOrEqual(1);
    expect(left.dir).toBe(true);

    const down = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'lab', 'down', '--state-dir', lab.stateDir], { stdio: 'ignore' });
    expect(await new Promise((r) => down.once('exit', r))).toBe(0);
    expect(labLeftovers(lab.labId, lab.stateDir)).toEqual(NOTHING_LEFT);
  });

  it('the simulated cloud serves the lab hosts as computes with their host_ip', async () => {
    const lab = newLab();
    const state = await labUp({ ...lab, hosts: 2 });
    const cloud = await startCloud({ hosts: state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })) });
    const client = OpenStackClient.create({ credentials: cloud.credentials() });
    try {
      const hyps = await client.compute.hypervisors.listDetail();
      expect(hyps.map((h) => [h.serviceHost, h.hostIp])).toEqual(state.hosts.map((h) => [h.name, h.hostIp]));
    } finally {
      client.close();
      await cloud.stop();
    }
  });

  it('down of a lab that does not exist is not an error', async () => {
    const lab = newLab();
    expect(await labDown(lab)).toEqual({ removed: [] });
    expect(existsSync(lab.stateDir)).toBe(false);
  });
});

/**
 * The embedded lab's cloud in a process of its own (what `doctor run` starts): it serves, its trace
 * and fault switches work over HTTP, it stops when asked, and it goes by itself when the process
 * that started it is killed outright.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pidAlive } from '../../src/lab/hosts/state.js';
import { startCloudProcess, type CloudProcess } from '../../src/lab/index.js';
import { OpenStackClient } from '../../src/openstack/index.js';
import { eventually } from '../helpers/lab.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'doctor-cloudproc-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the simulated cloud as a child process', () => {
  it('serves the cloud, its trace and its fault switches, and leaves no process when stopped', async () => {
    const lines: string[] = [];
    const cloud: CloudProcess = await startCloudProcess({ hosts: [{ name: 'compute-1', ip: '198.18.0.2' }], buildDelayMs: 0, stateDir: tempDir(), onLine: (l) => lines.push(l) });
    const client = OpenStackClient.create({ credentials: cloud.credentials() });
    try {
      expect(cloud.pid).not.toBe(process.pid);
      const services = await client.compute.services.list({ binary: 'nova-compute' });
      expect(services.map((s) => s.host)).toEqual(['compute-1']);
      const image = await client.image.create({ name: 'i' });
      await client.image.upload(image.id, Buffer.alloc(16));
      const flavor = await client.compute.flavors.create({ name: 'f', ram: 64, vcpus: 1, disk: 1 });
      const vm = await client.compute.servers.create({ name: 'vm', imageRef: image.id, flavorRef: flavor.id, networks: 'none' });
      await client.compute.servers.resetState(vm.id, 'error');
      // Its trace, read over HTTP, follows the VM's error through Nova's notification.
      await eventually(async () => ((await cloud.trace()).some((p) => p.instanceId === vm.id && p.hop === 'notification' && p.state === 'error') ? true : undefined), 5_000, 'the VM\'s notification in the trace');
      await cloud.dropWebhooks(1);
      // What it printed is the run's log: it names where its clouds.yaml is, never the password.
      expect(lines.join('\n')).toContain('clouds.yaml');
      expect(lines.join('\n')).not.toContain(cloud.credentials().password);
    } finally {
      client.close();
      await cloud.stop();
    }
    expect(pidAlive(cloud.pid)).toBe(false);
  });

  it('goes by itself when the process that started it is SIGKILLed', async () => {
    const dir = tempDir();
    const script = `import { startCloudProcess } from ${JSON.stringify(new URL('../../src/lab/index.js', import.meta.url).pathname.replace(/\.js$/, '.ts'))};
const c = await startCloudProcess({ hosts: [{ name: 'compute-1', ip: '198.18.0.2' }], buildDelayMs: 0, stateDir: ${JSON.stringify(dir)} });
console.log('cloud', c.pid);
setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        createInterface({ input: parent.stdout! }).on('line', (l) => {
          const m = /^cloud (\d+)$/.exec(l);
          if (m) resolve(Number(m[1]));
        });
        parent.once('exit', (code) => reject(new Error(`the parent exited first (${code})`)));
      });
      expect(pidAlive(pid)).toBe(true);
      parent.kill('SIGKILL');
      await eventually(() => !pidAlive(pid) || undefined, 10_000, `the cloud (PID ${pid}) to go`);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

/**
 * The all-in-one lab's first services, real: MariaDB and Keystone from Debian's
 * packages, driven by our client. Needs root and `./scripts/setup --openstack`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openstackDown, openstackStatus, openstackUp, type OpenStackLabState } from '../../src/lab/index.js';
import { loadCredentials, OpenStackClient } from '../../src/openstack/index.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** A base port with the two above it free too (RabbitMQ: AMQP, epmd, distribution). */
async function freeTriple(): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base > 65530) continue;
    const ok = await Promise.all([1, 2].map((i) => new Promise<boolean>((resolve) => {
      const s = createServer().once('error', () => resolve(false)).listen(base + i, '127.0.0.1', () => s.close(() => resolve(true)));
    })));
    if (ok.every(Boolean)) return base;
  }
}

/** Every process's command line and environment (zombies have neither). */
function processes(): Array<{ pid: string; cmd: string; env: string }> {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      const read = (f: string) => readFileSync(`/proc/${pid}/${f}`, 'utf8').replace(/\0/g, ' ');
      return [{ pid, cmd: read('cmdline'), env: read('environ') }];
    } catch {
      return [];
    }
  });
}

describe('the OpenStack all-in-one lab: MariaDB, RabbitMQ, Keystone, Placement, Glance', () => {
  let work: string;
  let stateDir: string;
  let state: OpenStackLabState;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-aio-'));
    chmodSync(work, 0o711); // MariaDB runs as mysql and must reach its data directory
    stateDir = join(work, 'openstack');
    state = await openstackUp({ stateDir, keystonePort: await freePort(), mysqlPort: await freePort(), rabbitPort: await freeTriple(), placementPort: await freePort(), glancePort: await freePort() });
  }, 120_000);
  afterAll(async () => {
    if (stateDir) await openstackDown({ stateDir });
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('serves Keystone on loopback to our client through the clouds.yaml it writes', async () => {
    const creds = loadCredentials({ OS_CLIENT_CONFIG_FILE: state.cloudsYaml, OS_CLOUD: 'doctor-openstack' }, (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined));
    expect(creds.authUrl).toBe(`http://127.0.0.1:${state.keystone.port}/v3`);
    const c = OpenStackClient.create({ credentials: creds });
    try {
      const token = await c.session.token();
      expect(token.roles).toContain('admin');
      expect(token.catalog.map((e) => e.type)).toContain('identity');
      expect(token.catalog.map((e) => e.type).sort()).toEqual(['identity', 'image', 'placement']);
      // Placement answers through the catalog, behind keystonemiddleware.
      const rp = await c.session.request<{ resource_providers: unknown[] }>({ service: 'placement', method: 'GET', path: '/resource_providers', headers: { 'OpenStack-API-Version': 'placement 1.30' } });
      expect(rp.data.resource_providers).toEqual([]);
      // Glance: queued, then active with the size and checksum of what was uploaded.
      const img = await c.image.create({ name: 'doctor-aio-image' });
      expect(img.status).toBe('queued');
      await c.image.upload(img.id, Buffer.alloc(1024 * 1024));
      expect(await c.image.get(img.id)).toMatchObject({ status: 'active', size: 1048576, checksum: 'b6d81b360a5672d80c27430f39153e2c' });
      await c.image.delete(img.id);
      expect(await c.image.exists(img.id)).toBe(false);
      const p = await c.identity.createProject({ name: 'doctor-aio-test' });
      const member = await c.identity.findFirstRole(['member', '_member_']);
      expect(member?.name).toBe('member');
      await c.identity.deleteProject(p.id);
      expect(await c.identity.findProject('doctor-aio-test')).toBeUndefined();
    } finally {
      c.close();
    }
  });

  it('keeps every secret off command lines, and up again changes nothing', async () => {
    const secrets = readdirSync(join(stateDir, 'secrets')).map((f) => readFileSync(join(stateDir, 'secrets', f), 'utf8').trim());
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    const leaking = processes().filter(({ cmd }) => secrets.some((s) => cmd.includes(s)));
    expect(leaking).toEqual([]);
    expect(openstackStatus(stateDir).services).toEqual({ mariadb: true, rabbitmq: true, keystone: true, placement: true, glance: true });
    const again = await openstackUp({ stateDir });
    const pids = (x: OpenStackLabState) => [x.mysql.pid, x.rabbit?.pid, x.keystone.pid, x.placement?.pid, x.glance?.pid];
    expect(pids(again)).toEqual(pids(state));
  }, 60_000);

  it('listens on loopback only', () => {
    const listeners = (file: string) =>
      readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/))
        .filter((f) => f[3] === '0A').map((f) => ({ addr: f[1]!.split(':')[0]!, port: parseInt(f[1]!.split(':')[1]!, 16) }));
    const ports = [state.mysql.port, state.keystone.port, state.placement!.port, state.glance!.port, state.rabbit!.port, state.rabbit!.port + 1, state.rabbit!.port + 2];
    const v4 = listeners('/proc/net/tcp').filter((l) => ports.includes(l.port));
    const v6 = listeners('/proc/net/tcp6').filter((l) => ports.includes(l.port));
    expect(v4.map((l) => l.port).sort()).toEqual([...new Set(ports)].sort());
    expect(v4.every((l) => l.addr === '0100007F')).toBe(true); // 127.0.0.1, never 0.0.0.0
    expect(v6.every((l) => l.addr === '00000000000000000000000001000000')).toBe(true); // ::1 only, never [::]
  });

  it('down stops exactly its services and removes its folder', async () => {
    // Anything that names the lab folder on its command line or in its environment (RabbitMQ's VM only does the latter).
    const ours = () => processes().filter(({ cmd, env }) => cmd.includes(stateDir) || env.includes(stateDir)).filter(({ pid }) => Number(pid) !== process.pid);
    expect(ours().map((p) => p.cmd).join('\n')).toMatch(/mariadbd[\s\S]*|beam\.smp/);
    expect(ours().some((p) => p.cmd.includes('beam.smp'))).toBe(true);
    await openstackDown({ stateDir });
    expect(ours()).toEqual([]);
    expect(existsSync(stateDir)).toBe(false);
  }, 60_000);
});

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

function commandLines(): Array<{ pid: string; cmd: string }> {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      return [{ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') }];
    } catch {
      return [];
    }
  });
}

describe('the OpenStack all-in-one lab: MariaDB and Keystone', () => {
  let work: string;
  let stateDir: string;
  let state: OpenStackLabState;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-aio-'));
    chmodSync(work, 0o711); // MariaDB runs as mysql and must reach its data directory
    stateDir = join(work, 'openstack');
    state = await openstackUp({ stateDir, keystonePort: await freePort(), mysqlPort: await freePort() });
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
    const leaking = commandLines().filter(({ cmd }) => secrets.some((s) => cmd.includes(s)));
    expect(leaking).toEqual([]);
    expect(openstackStatus(stateDir).services).toEqual({ mariadb: true, keystone: true });
    const again = await openstackUp({ stateDir });
    expect([again.mysql.pid, again.keystone.pid]).toEqual([state.mysql.pid, state.keystone.pid]);
  }, 60_000);

  it('down stops exactly its services and removes its folder', async () => {
    const ours = () => commandLines().filter(({ cmd }) => cmd.includes(stateDir));
    expect(ours().length).toBeGreaterThanOrEqual(2);
    await openstackDown({ stateDir });
    expect(ours()).toEqual([]);
    expect(existsSync(stateDir)).toBe(false);
  }, 60_000);
});

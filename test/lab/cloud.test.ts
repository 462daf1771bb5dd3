/**
 * The simulated cloud's contracts (DESIGN.md §4) driven over plain HTTP, the way
 * curl or any other client would see them, plus its lab-only features: hop
 * latency, the trace feed and the fault switches.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCloud, type LabCloud, type StartCloudOptions } from '../../src/lab/index.js';
import { clientFor, eventually } from '../helpers/lab.js';
import { recordingServer, type RecordingServer } from '../helpers/http.js';

interface Hook extends RecordingServer {
  /** The consumer's alarm action URL. */
  url: string;
}

async function webhookListener(): Promise<Hook> {
  const server = await recordingServer();
  return Object.assign(server, { url: `${server.url}/failure` });
}

/** A tiny raw HTTP client: status, headers and parsed body, nothing hidden. */
class Raw {
  constructor(private readonly base: string, public token = '') {}
  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { ...(this.token ? { 'X-Auth-Token': this.token } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      redirect: 'manual',
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json as Record<string, any>, text }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
}

async function login(lab: LabCloud, user: string, password: string, project: string): Promise<string> {
  const res = await fetch(`${lab.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
        scope: { project: { name: project, domain: { name: 'Default' } } },
      },
    }),
  });
  expect(res.status).toBe(201);
  return res.headers.get('x-subject-token')!;
}

/** Admin + a member project with one image, flavor and `n` ACTIVE servers. */
async function provision(lab: LabCloud, n: number) {
  const admin = new Raw(lab.url, await login(lab, 'admin', lab.cloud.adminPassword, 'admin'));
  const project = (await admin.call('POST', '/identity/v3/projects', { project: { name: 'doctor', domain_id: 'default' } })).body.project;
  const user = (await admin.call('POST', '/identity/v3/users', { user: { name: 'doctor', password: 'pw', domain_id: 'default' } })).body.user;
  const member = (await admin.call('GET', '/identity/v3/roles?name=member')).body.roles[0];
  expect((await admin.call('PUT', `/identity/v3/projects/${project.id}/users/${user.id}/roles/${member.id}`)).status).toBe(204);
  const doctor = new Raw(lab.url, await login(lab, 'doctor', 'pw', 'doctor'));
  const image = (await admin.call('POST', '/image/v2/images', { name: 'img', disk_format: 'raw', container_format: 'bare', visibility: 'public' })).body;
  const upload = await fetch(`${lab.url}/image/v2/images/${image.id}/file`, {
    method: 'PUT', headers: { 'X-Auth-Token': admin.token, 'Content-Type': 'application/octet-stream' }, body: Buffer.alloc(1024),
  });
  expect(upload.status).toBe(204);
  const flavor = (await admin.call('POST', '/compute/v2.1/flavors', { flavor: { name: 'tiny', ram: 64, vcpus: 1, disk: 1 } })).body.flavor;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await doctor.call('POST', '/compute/v2.1/servers', { server: { name: `vm${i}`, imageRef: image.id, flavorRef: flavor.id, networks: 'none' } }, { 'X-OpenStack-Nova-API-Version': '2.37' });
    expect(r.status).toBe(202);
    ids.push(r.body.server.id);
  }
  await eventually(async () => {
    const list = await Promise.all(ids.map(async (id) => (await admin.call('GET', `/compute/v2.1/servers/${id}`)).body.server as { status: string }));
    return list.every((s) => s.status === 'ACTIVE') ? true : undefined;
  }, 5000, 'servers ACTIVE');
  return { admin, doctor, project, user, ids };
}

const alarmBody = (vm: string, url: string, name = `alarm-${vm}`) => ({
  name, type: 'event', severity: 'moderate', repeat_actions: false, alarm_actions: [url],
  event_rule: { event_type: 'compute.instance.update', query: [
    { field: 'traits.instance_id', op: 'eq', value: vm },
    { field: 'traits.state', op: 'eq', value: 'error' },
  ] },
});

describe('lab cloud contracts', () => {
  let lab: LabCloud;
  let hook: Hook;
  const start = async (opts: StartCloudOptions = {}) => {
    lab = await startCloud({ buildDelayMs: 5, ...opts });
  };
  beforeEach(async () => {
    hook = await webhookListener();
  });
  afterEach(async () => {
    await lab?.stop();
    await hook.close();
  });

  it('fires only the alarm of the VM that went to error, with the Aodh webhook payload', async () => {
    await start();
    const { admin, doctor, ids } = await provision(lab, 3);
    const alarms = [];
    for (const id of ids) alarms.push((await doctor.call('POST', '/alarming/v2/alarms', alarmBody(id, hook.url))).body);
    expect(alarms.map((a) => a.state)).toEqual(['insufficient data', 'insufficient data', 'insufficient data']);

    const reset = await admin.call('POST', `/compute/v2.1/servers/${ids[1]}/action`, { 'os-resetState': { state: 'error' } });
    expect(reset.status).toBe(202);
    expect(reset.text).toBe('');
    await eventually(() => hook.received[0], 5000, 'webhook');
    // Let the other VMs' chains run too, if they wrongly would.
    await eventually(() => lab.cloud.trace.some((p) => p.hop === 'webhook_delivered') || undefined);
    expect(hook.received).toHaveLength(1);
    const { body, headers } = hook.received[0]!;
    expect(Object.keys(body).sort()).toEqual(['alarm_id', 'alarm_name', 'current', 'previous', 'reason', 'reason_data', 'severity']);
    expect(body).toMatchObject({ alarm_id: alarms[1]!.alarm_id, severity: 'moderate', previous: 'insufficient data', current: 'alarm' });
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-openstack-request-id']).toMatch(/^req-/);
    const event = (body['reason_data'] as { type: string; event: { event_type: string; traits: Array<[string, number, unknown]> } });
    expect(event.type).toBe('event');
    expect(event.event.event_type).toBe('compute.instance.update');
    const traits = Object.fromEntries(event.event.traits.map(([n, , v]) => [n, v]));
    expect(traits).toMatchObject({ instance_id: ids[1], state: 'error', old_state: 'active', tenant_id: alarms[1]!.project_id, host: 'controller' });
    expect(String(body['reason'])).toContain(`"value": "${ids[1]}"`);

    const fired = await admin.call('GET', `/alarming/v2/alarms/${alarms[1]!.alarm_id}`);
    expect(fired.body.state).toBe('alarm');
    const quiet = await admin.call('GET', `/alarming/v2/alarms/${alarms[0]!.alarm_id}`);
    expect(quiet.body.state).toBe('insufficient data');
  });

  it('sets an alarm\'s state by hand as Aodh does (a bare JSON string, a state transition in its history); back to ok, it fires again', async () => {
    await start();
    const { admin, doctor, ids } = await provision(lab, 1);
    const created = (await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url))).body;
    const path = `/alarming/v2/alarms/${created.alarm_id}/state`;
    const set = await doctor.call('PUT', path, 'alarm');
    expect(set.status).toBe(200);
    expect(set.text).toBe('"alarm"');
    expect((await doctor.call('GET', path)).body).toBe('alarm');
    const after = (await doctor.call('GET', `/alarming/v2/alarms/${created.alarm_id}`)).body;
    expect(after).toMatchObject({ state: 'alarm', state_reason: 'Manually set via API' });
    expect(after.state_timestamp > created.state_timestamp).toBe(true);
    const [latest] = (await doctor.call('GET', `/alarming/v2/alarms/${created.alarm_id}/history`)).body as Array<Record<string, unknown>>;
    expect(latest).toMatchObject({ type: 'state transition', detail: '{"state": "alarm", "state_reason": "Manually set via API"}', on_behalf_of: created.project_id, project_id: created.project_id });
    // Anything but the three states, a body that is not JSON, another project's alarm: refused as Aodh refuses them.
    const broken = await doctor.call('PUT', path, 'broken');
    expect(broken.status).toBe(400);
    expect(broken.body.error_message).toEqual({ faultcode: 'Client', faultstring: 'state invalid', debuginfo: null });
    for (const bad of [42, { state: 'ok' }]) expect((await doctor.call('PUT', path, bad)).status, JSON.stringify(bad)).toBe(400);
    expect((await doctor.call('PUT', path, undefined, { 'Content-Type': 'application/json', 'Content-Length': '0' })).status).toBe(400);
    const other = (await admin.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url))).body;
    expect((await doctor.call('PUT', `/alarming/v2/alarms/${other.alarm_id}/state`, 'ok')).status).toBe(404);
    // The client, then a second failure of the VM: an alarm set back to ok fires again (repeat_actions is false).
    const client = clientFor(lab);
    try {
      expect(await client.alarming.setState(created.alarm_id, 'ok')).toBe('ok');
      expect(await client.alarming.state(created.alarm_id)).toBe('ok');
    } finally {
      client.close();
    }
    await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    await eventually(() => hook.received.find((h) => h.body['alarm_id'] === created.alarm_id), 5000, 'the alarm to fire');
    expect(hook.received.find((h) => h.body['alarm_id'] === created.alarm_id)!.body).toMatchObject({ previous: 'ok', current: 'alarm' });
  });

  it('does not fire alarms of another project (Aodh evaluates the VM project only)', async () => {
    await start();
    const { admin, ids } = await provision(lab, 1);
    // Created by admin in the admin project: never evaluated for the doctor VM.
    expect((await admin.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url))).status).toBe(201);
    await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    await eventually(() => lab.cloud.trace.some((p) => p.hop === 'event' && p.state === 'error') || undefined);
    await new Promise((r) => setTimeout(r, 30));
    expect(lab.cloud.trace.some((p) => p.hop === 'alarm_evaluated')).toBe(false);
    expect(hook.received).toHaveLength(0);
  });

  it('lists alarms of the caller\'s project only, as the real Aodh does, unless an admin names a project or all', async () => {
    await start();
    const { admin, doctor, ids } = await provision(lab, 1);
    const mine = (await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url, 'doctor_alarm0'))).body;
    const byName = '/alarming/v2/alarms?q.field=name&q.op=eq&q.value=doctor_alarm0';
    expect((await doctor.call('GET', byName)).body.map((a: { alarm_id: string }) => a.alarm_id)).toEqual([mine.alarm_id]);
    expect((await admin.call('GET', byName)).body).toEqual([]); // the admin project has none of that name
    const inProject = await admin.call('GET', `/alarming/v2/alarms?q.field=project_id&q.op=eq&q.value=${mine.project_id}`);
    expect(inProject.body.map((a: { alarm_id: string }) => a.alarm_id)).toEqual([mine.alarm_id]);
    expect((await admin.call('GET', '/alarming/v2/alarms?q.field=all_projects&q.op=eq&q.value=true')).body).toHaveLength(1);
    expect((await doctor.call('GET', '/alarming/v2/alarms?q.field=all_projects&q.op=eq&q.value=true')).status).toBe(403);
    const other = await doctor.call('GET', '/alarming/v2/alarms?q.field=project_id&q.op=eq&q.value=not-mine');
    expect(other.status).toBe(401);
    expect(other.body.error_message.faultstring).toBe('Not Authorized to access project not-mine');
    const twice = await admin.call('GET', '/alarming/v2/alarms?q.field=name&q.op=eq&q.value=a&q.field=name&q.op=eq&q.value=b');
    expect(twice.status).toBe(400);
    expect(twice.body.error_message.faultstring).toContain('duplicate query fields are not allowed');
  });

  it('answers the force-down paths by microversion, and host_status follows', async () => {
    await start();
    const { admin, ids } = await provision(lab, 1);
    const host = (await admin.call('GET', `/compute/v2.1/servers/${ids[0]}`, undefined, { 'X-OpenStack-Nova-API-Version': '2.16' })).body.server['OS-EXT-SRV-ATTR:host'];
    const at = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
    const hostStatus = async () => (await admin.call('GET', `/compute/v2.1/servers/${ids[0]}`, undefined, at('2.16'))).body.server.host_status;
    expect(await hostStatus()).toBe('UP');
    // Below 2.16 there is no host_status at all.
    expect('host_status' in (await admin.call('GET', `/compute/v2.1/servers/${ids[0]}`, undefined, at('2.15'))).body.server).toBe(false);

    const old = await admin.call('PUT', '/compute/v2.1/os-services/force-down', { host, binary: 'nova-compute', forced_down: true }, at('2.11'));
    expect(old.status).toBe(200);
    expect(old.body).toEqual({ service: { host, binary: 'nova-compute', forced_down: true } });
    expect(old.headers.get('openstack-api-version')).toBe('compute 2.11');
    expect(old.headers.get('x-openstack-nova-api-version')).toBe('2.11');
    expect(await hostStatus()).toBe('DOWN');

    const wrong = await admin.call('PUT', '/compute/v2.1/os-services/force-down', { host, binary: 'nova-compute', forced_down: false }, at('2.53'));
    expect(wrong.status).toBe(400);
    expect(wrong.body.badRequest.message).toBe("Additional properties are not allowed ('binary', 'host' were unexpected)");
    expect(await hostStatus()).toBe('DOWN');

    const svc = (await admin.call('GET', `/compute/v2.1/os-services?host=${host}&binary=nova-compute`, undefined, at('2.53'))).body.services[0];
    expect(svc.id).toMatch(/^[0-9a-f-]{36}$/);
    const up = await admin.call('PUT', `/compute/v2.1/os-services/${svc.id}`, { forced_down: false }, at('2.53'));
    expect(up.status).toBe(200);
    expect(up.body.service).toMatchObject({ id: svc.id, host, forced_down: false, state: 'up' });
    expect(await hostStatus()).toBe('UP');
    await admin.call('PUT', `/compute/v2.1/os-services/${svc.id}`, { status: 'disabled', disabled_reason: 'maintenance' }, at('2.53'));
    expect(await hostStatus()).toBe('MAINTENANCE');

    // Between 2.1 and 2.10 the force-down action does not exist.
    expect((await admin.call('PUT', '/compute/v2.1/os-services/force-down', { host, binary: 'nova-compute', forced_down: true }, at('2.10'))).status).toBe(404);
  });

  it('lists servers per host for admins only, and shows an empty host_status before scheduling', async () => {
    await start({ buildDelayMs: 200 });
    const { admin, doctor, ids } = await provision(lab, 2);
    const hosts = await Promise.all(ids.map(async (id) => (await admin.call('GET', `/compute/v2.1/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'] as string));
    const onFirst = (await admin.call('GET', `/compute/v2.1/servers/detail?all_tenants=1&host=${hosts[0]}`)).body.servers;
    expect(onFirst.map((s: { id: string }) => s.id)).toEqual(ids.filter((_, i) => hosts[i] === hosts[0]));
    // Members may not list all tenants; the host filter is silently ignored for them.
    expect((await doctor.call('GET', '/compute/v2.1/servers/detail?all_tenants=1')).status).toBe(403);
    expect((await doctor.call('GET', `/compute/v2.1/servers/detail?host=${hosts[0]}`)).body.servers).toHaveLength(2);
    expect('OS-EXT-SRV-ATTR:host' in (await doctor.call('GET', `/compute/v2.1/servers/${ids[0]}`)).body.server).toBe(false);

    const image = (await admin.call('GET', '/image/v2/images?name=img')).body.images[0].id;
    const flavor = (await admin.call('GET', '/compute/v2.1/flavors')).body.flavors[0].id;
    const fresh = await admin.call('POST', '/compute/v2.1/servers', { server: { name: 'late', imageRef: image, flavorRef: flavor, networks: 'none' } }, { 'X-OpenStack-Nova-API-Version': '2.37' });
    const view = (await admin.call('GET', `/compute/v2.1/servers/${fresh.body.server.id}`, undefined, { 'X-OpenStack-Nova-API-Version': '2.16' })).body.server;
    expect(view.status).toBe('BUILD');
    expect(view.host_status).toBe('');
    expect(view.hostId).toBe('');
  });

  it('pages server lists as Nova does (max_limit, limit, marker, servers_links), and the client reads every page', async () => {
    await start({ maxLimit: 3 });
    const { admin, ids } = await provision(lab, 7);
    const newestFirst = [...ids].reverse(); // Nova sorts by creation, newest first
    const first = await admin.call('GET', '/compute/v2.1/servers/detail?all_tenants=1');
    expect(first.body.servers.map((x: { id: string }) => x.id)).toEqual(newestFirst.slice(0, 3));
    expect(first.body.servers_links).toEqual([{ rel: 'next', href: `${lab.url}/compute/v2.1/servers/detail?all_tenants=1&marker=${newestFirst[2]}` }]);
    const last = await admin.call('GET', `/compute/v2.1/servers?all_tenants=1&limit=2&marker=${newestFirst[4]}`);
    expect(last.body.servers.map((x: { id: string }) => x.id)).toEqual(newestFirst.slice(5));
    expect(last.body.servers_links).toEqual([{ rel: 'next', href: `${lab.url}/compute/v2.1/servers?all_tenants=1&limit=2&marker=${newestFirst[6]}` }]); // full page: linked, as Nova does
    expect((await admin.call('GET', `/compute/v2.1/servers?all_tenants=1&marker=${newestFirst[6]}`)).body).toEqual({ servers: [] });
    expect((await admin.call('GET', '/compute/v2.1/servers?all_tenants=1&limit=0')).body.servers).toHaveLength(7);
    const badMarker = await admin.call('GET', '/compute/v2.1/servers/detail?marker=nope');
    expect([badMarker.status, badMarker.body.badRequest?.message]).toEqual([400, 'marker [nope] not found']);
    const badLimit = await admin.call('GET', '/compute/v2.1/servers/detail?limit=-1');
    expect([badLimit.status, badLimit.body.badRequest?.message]).toEqual([400, "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'"]);
    // The inspector's client follows the links: all seven, none twice.
    const client = clientFor(lab);
    expect((await client.compute.servers.listDetail({ allTenants: true })).map((x) => x.id)).toEqual(newestFirst);
  });

  it('creates several servers in one request (min_count/max_count) within the instance, cores and RAM quotas, with Nova\'s names and messages', async () => {
    await start();
    const { admin, doctor, project } = await provision(lab, 1); // tiny: 1 vCPU, 64 MiB; quotas 10 instances, 20 cores
    const image = (await admin.call('GET', '/image/v2/images?name=img')).body.images[0].id;
    const flavor = (await admin.call('GET', '/compute/v2.1/flavors')).body.flavors.find((f: { name: string }) => f.name === 'tiny').id;
    const create = (extra: Record<string, unknown>) => doctor.call('POST', '/compute/v2.1/servers', { server: { name: 'bulk', imageRef: image, flavorRef: flavor, networks: 'none', ...extra } }, { 'X-OpenStack-Nova-API-Version': '2.37' });
    const names = async () => (await admin.call('GET', `/compute/v2.1/servers?all_tenants=1&project_id=${project.id}`)).body.servers.map((x: { name: string }) => x.name).sort();

    const three = await create({ min_count: 3 });
    expect(three.status).toBe(202);
    expect(three.headers.get('location')).toBe(`${lab.url}/compute/v2.1/servers/${three.body.server.id}`);
    expect(await names()).toEqual(['bulk-1', 'bulk-2', 'bulk-3', 'vm0']);
    const reservation = await create({ min_count: '2', return_reservation_id: true });
    expect([reservation.status, Object.keys(reservation.body)]).toEqual([202, ['reservation_id']]);
    // 6 of 10 used: 2 to 8 asked, 4 fit, 4 are made.
    expect((await create({ min_count: 2, max_count: 8 })).status).toBe(202);
    expect((await names()).filter((n: string) => n.startsWith('bulk-'))).toHaveLength(9);
    const full = await create({});
    expect([full.status, full.body.forbidden?.message]).toEqual([403, 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances']);
    // Cores count too: room for 10 more instances, but 2 cores.
    expect((await admin.call('PUT', `/compute/v2.1/os-quota-sets/${project.id}`, { quota_set: { instances: 20, cores: 12 } })).status).toBe(200);
    const cores = await create({ min_count: 3, max_count: 5 });
    expect([cores.status, cores.body.forbidden?.message]).toEqual([403, 'Quota exceeded for cores: Requested 5, but already used 10 of 12 cores']);
    expect((await create({ min_count: 1, max_count: 5 })).status).toBe(202); // the 2 that fit
    expect(await names()).toHaveLength(12);
    for (const [extra, message] of [
      [{ min_count: 3, max_count: 2 }, 'min_count must be <= max_count'],
      [{ min_count: 0 }, 'Invalid input for field/attribute min_count. Value: 0. 0 is less than the minimum of 1'],
      [{ max_count: 'many' }, "Invalid input for field/attribute max_count. Value: many. 'many' does not match '^[0-9]*$'"],
    ] as const) {
      const r = await create(extra);
      expect([r.status, r.body.badRequest?.message], JSON.stringify(extra)).toEqual([400, message]);
    }
    // The client's multi-create: one request, its servers found again by their reservation id (a filter every user may give).
    const c = clientFor(lab);
    const { reservationId } = await c.compute.servers.createMany({ name: 'many', imageRef: image, flavorRef: flavor, networks: 'none' }, 3);
    expect(reservationId).toMatch(/^r-/);
    expect((await c.compute.servers.listDetail({ reservationId })).map((x) => x.name).sort()).toEqual(['many-1', 'many-2', 'many-3']);
    expect((await doctor.call('GET', `/compute/v2.1/servers?reservation_id=${reservationId}`)).body.servers).toEqual([]); // another project's
  });

  it('keeps the newest points of a long trace, bounded, and serves those after a seq', async () => {
    await start();
    const MAX = 100_000;
    for (let i = 0; i < MAX + 25_000; i++) lab.cloud.record({ hop: 'notification' });
    expect(lab.cloud.trace.length).toBeGreaterThanOrEqual(MAX);
    expect(lab.cloud.trace.length).toBeLessThanOrEqual(MAX + 10_000);
    const newest = lab.cloud.trace.at(-1)!.seq;
    expect(newest).toBe(MAX + 25_000);
    expect(lab.cloud.trace.every((p, i, all) => i === 0 || p.seq === all[i - 1]!.seq + 1)).toBe(true); // the newest, in order, none lost between
    expect(lab.cloud.traceSince(newest - 3).map((p) => p.seq)).toEqual([newest - 2, newest - 1, newest]);
    expect(lab.cloud.traceSince(0)).toHaveLength(lab.cloud.trace.length);
    expect(lab.cloud.traceSince(newest)).toEqual([]);
  });

  it('serves hypervisors with host_ip, integer ids below 2.53 and UUIDs from 2.53', async () => {
    await start({ hosts: [{ name: 'c1', ip: '198.18.0.2' }, { name: 'c2', ip: '198.18.0.6' }, { name: 'c3', ip: '198.18.0.10' }] });
    const admin = new Raw(lab.url, await login(lab, 'admin', lab.cloud.adminPassword, 'admin'));
    const old = (await admin.call('GET', '/compute/v2.1/os-hypervisors/detail', undefined, { 'X-OpenStack-Nova-API-Version': '2.37' })).body.hypervisors;
    expect(old.map((h: { hypervisor_hostname: string; host_ip: string }) => `${h.hypervisor_hostname}=${h.host_ip}`)).toEqual(['c1=198.18.0.2', 'c2=198.18.0.6', 'c3=198.18.0.10']);
    expect(old.every((h: { id: unknown }) => typeof h.id === 'number')).toBe(true);
    const modern = (await admin.call('GET', '/compute/v2.1/os-hypervisors/detail', undefined, { 'X-OpenStack-Nova-API-Version': '2.53' })).body.hypervisors;
    expect(modern.every((h: { id: unknown }) => typeof h.id === 'string')).toBe(true);
    const services = (await admin.call('GET', '/compute/v2.1/os-services?binary=nova-compute')).body.services;
    expect(services.map((s: { host: string }) => s.host)).toEqual(['c1', 'c2', 'c3']);
  });

  it('pages hypervisors from 2.33 as Nova does (max_limit, marker = id, hypervisors_links), all of them before; the client reads every page', async () => {
    const hosts = Array.from({ length: 7 }, (_, i) => ({ name: `c${i + 1}`, ip: `198.18.0.${4 * i + 2}` }));
    await start({ maxLimit: 3, hosts });
    const admin = new Raw(lab.url, await login(lab, 'admin', lab.cloud.adminPassword, 'admin'));
    const get = (path: string, mv: string) => admin.call('GET', `/compute/v2.1/${path}`, undefined, { 'X-OpenStack-Nova-API-Version': mv });
    const names = (r: { body: Record<string, any> }) => r.body.hypervisors.map((h: { hypervisor_hostname: string }) => h.hypervisor_hostname); // eslint-disable-line @typescript-eslint/no-explicit-any
    const old = await get('os-hypervisors/detail?limit=1', '2.32');
    expect([names(old), old.body.hypervisors_links]).toEqual([hosts.map((h) => h.name), undefined]);
    const first = await get('os-hypervisors/detail', '2.53');
    expect(names(first)).toEqual(['c1', 'c2', 'c3']);
    expect(first.body.hypervisors_links).toEqual([{ rel: 'next', href: `${lab.url}/compute/v2.1/os-hypervisors/detail?marker=${first.body.hypervisors[2].id}` }]);
    const brief = await get(`os-hypervisors?limit=2&marker=${first.body.hypervisors[2].id}`, '2.53');
    expect(names(brief)).toEqual(['c4', 'c5']);
    expect(Object.keys(brief.body.hypervisors[0]).sort()).toEqual(['hypervisor_hostname', 'id', 'state', 'status']);
    const legacy = await get('os-hypervisors/detail?marker=6', '2.37'); // integer ids below 2.53
    expect(names(legacy)).toEqual(['c7']);
    expect(legacy.body.hypervisors_links).toBeUndefined();
    // The monitor fleet's host list: every page, none twice.
    expect((await clientFor(lab).compute.hypervisors.listDetail()).map((h) => `${h.serviceHost}=${h.hostIp}`)).toEqual(hosts.map((h) => `${h.name}=${h.ip}`));
  });

  it('keeps admin actions to admins: reset-state, force-down, hypervisors', async () => {
    await start();
    const { doctor, ids } = await provision(lab, 1);
    const reset = await doctor.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    expect(reset.status).toBe(403);
    expect(reset.body.forbidden.message).toBe("Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.");
    expect((await doctor.call('PUT', '/compute/v2.1/os-services/force-down', { host: 'compute-1', binary: 'nova-compute', forced_down: true }, { 'X-OpenStack-Nova-API-Version': '2.11' })).status).toBe(403);
    expect((await doctor.call('GET', '/compute/v2.1/os-hypervisors/detail')).status).toBe(403);
    expect((await doctor.call('GET', '/identity/v3/projects')).status).toBe(403);
  });

  it('validates reset-state and alarm bodies with the real messages', async () => {
    await start();
    const { admin, doctor, ids } = await provision(lab, 1);
    const bad = await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'paused' } });
    expect(bad.status).toBe(400);
    expect(bad.body.badRequest.message).toContain("is not one of ['active', 'error']");
    expect((await admin.call('POST', '/compute/v2.1/servers/00000000-0000-4000-8000-000000000000/action', { 'os-resetState': { state: 'error' } })).status).toBe(404);
    const a1 = await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url, 'dup'));
    expect(a1.status).toBe(201);
    expect((await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url, 'dup'))).status).toBe(409);
    const noRule = await doctor.call('POST', '/alarming/v2/alarms', { name: 'x', type: 'event', severity: 'moderate' });
    expect(noRule.body.error_message.faultstring).toBe('event_rule must be set for event type alarm');
    expect((await doctor.call('POST', '/alarming/v2/alarms', { ...alarmBody(ids[0]!, 'ftp://x/y', 'ftp') })).status).toBe(400);
    // A value that is not a string (it once crashed the simulated Aodh: String() of {toString: false}).
    const objectValue = alarmBody(ids[0]!, hook.url, 'objval') as { event_rule: { query: Array<{ value: unknown }> } };
    objectValue.event_rule.query[0]!.value = { toString: false };
    const wrong = await doctor.call('POST', '/alarming/v2/alarms', objectValue);
    expect(wrong.status).toBe(400);
    expect(wrong.body.error_message.faultstring).toBe("Invalid input for field/attribute value. Value: {'toString': False}. Wrong type. Expected '<class 'str'>', got '<class 'dict'>'");
    const flavorName = await admin.call('POST', '/compute/v2.1/flavors', { flavor: { name: { toString: false }, ram: 64, vcpus: 1, disk: 1 } });
    expect(flavorName.status).toBe(400);
    expect(flavorName.body.badRequest.message).toBe("Invalid input for field/attribute name. Value: {'toString': False}. {'toString': False} is not of type 'string'");
    const malformed = await fetch(`${lab.url}/compute/v2.1/servers`, { method: 'POST', headers: { 'X-Auth-Token': admin.token, 'Content-Type': 'application/json' }, body: '{"server":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { badRequest: { message: string } }).badRequest.message).toMatch(/Malformed request body/);
  });

  it('delays each hop by its configured latency and records a trace point per hop', async () => {
    await start({ latency: { notify: 20, transform: 15, evaluate: 10, fire: 5, deliver: 10 } });
    const { admin, doctor, ids } = await provision(lab, 1);
    await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url));
    // The BUILD → ACTIVE update runs the same (slow) chain: let it finish first.
    await eventually(() => lab.cloud.trace.some((p) => p.hop === 'event' && p.state === 'active') || undefined, 5000, 'activation event');
    const since = lab.cloud.trace.at(-1)?.seq ?? 0;
    await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    await eventually(() => lab.cloud.trace.some((p) => p.hop === 'webhook_delivered') || undefined, 5000, 'delivery');
    const points = (await admin.call('GET', `/_lab/trace?since=${since}`)).body.trace as Array<{ hop: string; at: number; instanceId?: string; status?: number }>;
    expect(points.map((p) => p.hop)).toEqual(['state_change', 'notification', 'event', 'alarm_evaluated', 'alarm_fired', 'webhook_delivered']);
    expect(points.every((p) => p.instanceId === ids[0])).toBe(true);
    expect(points.at(-1)!.status).toBe(200);
    const gaps = points.slice(1).map((p, i) => p.at - points[i]!.at);
    // Lower bounds only (a timer never fires before its delay; allow 1 ms of timer rounding).
    [20, 15, 10, 5, 10].forEach((ms, i) => expect(gaps[i]).toBeGreaterThanOrEqual(ms - 1));
  });

  it('at zero latency runs a reset\'s hops (notification to alarm fired) in one step after the answer: nothing else waits in between', async () => {
    await start({ latency: { notify: 0, transform: 0, evaluate: 0, fire: 0, deliver: 0 } });
    const { admin, doctor, ids } = await provision(lab, 1);
    await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url));
    // Whatever is queued when the notification is recorded (a timer, an immediate) runs only after the alarm fired.
    const order: string[] = [];
    lab.cloud.on('trace', (p: { hop: string; state?: string }) => {
      if (p.hop === 'state_change' && p.state !== 'error') return;
      order.push(p.hop);
      if (p.hop === 'notification') {
        setImmediate(() => order.push('(an immediate queued at the notification)'));
        setTimeout(() => order.push('(a 0 ms timer queued at the notification)'), 0);
      }
    });
    const reset = await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    expect(reset.status).toBe(202);
    await eventually(() => order.includes('(a 0 ms timer queued at the notification)') || undefined, 5000, 'the queued timer');
    await eventually(() => hook.received[0], 5000, 'webhook');
    expect(order.slice(0, 5)).toEqual(['state_change', 'notification', 'event', 'alarm_evaluated', 'alarm_fired']);
    expect(order.slice(5, 7).sort()).toEqual(['(a 0 ms timer queued at the notification)', '(an immediate queued at the notification)']);
  });

  it('drops webhooks, fails and slows APIs, and revokes tokens on demand over HTTP', async () => {
    await start();
    const { admin, doctor, ids } = await provision(lab, 1);
    await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, hook.url));
    expect((await admin.call('POST', '/_lab/faults', { action: 'drop-webhooks' })).body.webhooksToDrop).toBe('all');
    await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    await eventually(() => lab.cloud.trace.some((p) => p.hop === 'webhook_dropped') || undefined, 5000, 'drop');
    expect(hook.received).toHaveLength(0);

    await admin.call('POST', '/_lab/faults', { action: 'fail', service: 'compute', status: 503, count: 1 });
    const failed = await admin.call('GET', '/compute/v2.1/flavors');
    expect(failed.status).toBe(503);
    expect(failed.body.serviceUnavailable.code).toBe(503);
    expect((await admin.call('GET', '/compute/v2.1/flavors')).status).toBe(200);
    expect((await admin.call('POST', '/_lab/faults', { action: 'fail', service: 'nova', status: 503 })).status).toBe(400);
    expect((await doctor.call('GET', '/_lab/trace')).status).toBe(403);

    const revoked = await admin.call('POST', '/_lab/faults', { action: 'revoke-tokens' });
    expect(revoked.body.revoked).toBeGreaterThanOrEqual(2);
    expect((await admin.call('GET', '/compute/v2.1/flavors')).status).toBe(401);
  });

  it('never sends a webhook off this machine', async () => {
    await start();
    const { admin, doctor, ids } = await provision(lab, 1);
    // 203.0.113.0/24 is TEST-NET-3: the sim must refuse it before any packet leaves.
    await doctor.call('POST', '/alarming/v2/alarms', alarmBody(ids[0]!, 'http://203.0.113.7:12346/failure'));
    await admin.call('POST', `/compute/v2.1/servers/${ids[0]}/action`, { 'os-resetState': { state: 'error' } });
    const refused = await eventually(() => lab.cloud.trace.find((p) => p.hop === 'webhook_refused'), 5000, 'refusal');
    expect(refused.detail).toMatch(/only delivers to loopback or lab addresses/);
    expect(lab.cloud.trace.some((p) => p.hop === 'webhook_delivered' || p.hop === 'webhook_failed')).toBe(false);
  });

  it('goes BUILD to ACTIVE after the configured delay, and ERROR when no host can take the VM', async () => {
    await start({ hosts: [{ name: 'only', ip: '198.18.0.2' }], buildDelayMs: 5 });
    const { admin, ids } = await provision(lab, 1);
    expect((await admin.call('GET', `/compute/v2.1/servers/${ids[0]}`)).body.server.status).toBe('ACTIVE');
    const svc = (await admin.call('GET', '/compute/v2.1/os-services', undefined, { 'X-OpenStack-Nova-API-Version': '2.53' })).body.services[0];
    await admin.call('PUT', `/compute/v2.1/os-services/${svc.id}`, { forced_down: true }, { 'X-OpenStack-Nova-API-Version': '2.53' });
    const image = (await admin.call('GET', '/image/v2/images?name=img')).body.images[0].id;
    const flavor = (await admin.call('GET', '/compute/v2.1/flavors')).body.flavors[0].id;
    const r = await admin.call('POST', '/compute/v2.1/servers', { server: { name: 'nowhere', imageRef: image, flavorRef: flavor } });
    const status = await eventually(async () => {
      const s = (await admin.call('GET', `/compute/v2.1/servers/${r.body.server.id}`)).body.server.status;
      return s === 'BUILD' ? undefined : s;
    }, 5000, 'scheduling');
    expect(status).toBe('ERROR');
  });
});

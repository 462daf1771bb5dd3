import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInspectorApp, Inspector } from '../../src/inspector/index.js';
import { json, recordingProxy } from '../helpers/http.js';
import { listen, type Listening } from '../../src/shared/index.js';
import type { OpenStackClient } from '../../src/openstack/index.js';
import type { LabCloud } from '../../src/lab/index.js';
import { clientFor, eventually, withCloud } from '../helpers/lab.js';

const doctorEvent = (hostname: string, extra: Record<string, unknown> = {}) => ({
  time: new Date().toISOString(), type: 'compute.host.down',
  details: { hostname, status: 'down', monitor: 'test_monitor', monitor_event_id: 'e1', ...extra },
});

async function bootOn(admin: OpenStackClient, lab: LabCloud, placement: Record<string, number>): Promise<Record<string, string[]>> {
  let image = await admin.image.findByName('img');
  if (!image) {
    image = await admin.image.create({ name: 'img' });
    await admin.image.upload(image.id, Buffer.alloc(16));
  }
  const flavor = (await admin.compute.flavors.findByName('tiny')) ?? (await admin.compute.flavors.create({ name: 'tiny', ram: 64, vcpus: 1, disk: 1 }));
  const out: Record<string, string[]> = {};
  for (const [host, n] of Object.entries(placement)) {
    out[host] = [];
    for (let i = 0; i < n; i++) {
      const { id } = await admin.compute.servers.create({ name: `${host}-vm${lab.cloud.state.servers.size}`, imageRef: image.id, flavorRef: flavor.id, networks: 'none', availabilityZone: `nova:${host}` });
      out[host]!.push(id);
    }
  }
  await eventually(() => ([...lab.cloud.state.servers.values()].every((s) => s.vmState === 'active') ? true : undefined), 5000, 'ACTIVE');
  return out;
}

describe('the sample inspector against the lab cloud', () => {
  let lab: LabCloud;
  let admin: OpenStackClient;
  let inspector: Inspector;
  let svc: Listening;
  const put = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${svc.url}/events`, { method: 'PUT', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const start = async (opts: { token?: string; respond?: 'done' | 'accepted' } = {}, inspectorOpts = {}) => {
    inspector = new Inspector(admin.compute, inspectorOpts);
    await inspector.prime();
    svc = await listen(createInspectorApp(inspector, opts));
  };
  beforeEach(async () => {
    lab = await withCloud();
    admin = clientFor(lab);
  });
  afterEach(async () => {
    await svc?.close();
    admin.close();
    await lab.stop();
  });

  it('forces the host down and resets exactly its VMs to error, recording the checkpoints in order', async () => {
    const vms = await bootOn(admin, lab, { 'compute-1': 3, 'compute-2': 1 });
    await start();
    const res = await put([doctorEvent('compute-1')]);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'OK', hosts: [{ host: 'compute-1', vms: 3, forcedDown: true }], ignored: 0 });
    for (const id of vms['compute-1']!) expect((await admin.compute.servers.get(id)).status).toBe('ERROR');
    expect((await admin.compute.servers.get(vms['compute-2']![0]!)).status).toBe('ACTIVE');
    expect((await admin.compute.services.list({ host: 'compute-1' }))[0]!.forcedDown).toBe(true);
    const [r] = inspector.records();
    expect(r!.forceDownPath).toBe('uuid-2.53');
    expect(r!.receivedAt).toBeLessThanOrEqual(r!.foundAffectedAt!);
    expect(r!.foundAffectedAt!).toBeLessThanOrEqual(r!.vmErrorFirstAt!);
    expect(r!.vmErrorFirstAt!).toBeLessThanOrEqual(r!.vmErrorLastAt!);
    expect(r!.markedDownAt).toBeGreaterThanOrEqual(r!.receivedAt);

    // The same event again (a monitor retry) does not redo the work.
    expect((await put([doctorEvent('compute-1')])).status).toBe(200);
    expect(lab.cloud.trace.filter((p) => p.hop === 'state_change' && p.state === 'error')).toHaveLength(3);

    // Stopping clears the force-down it set.
    expect(await inspector.stop()).toEqual([]);
    expect((await admin.compute.services.list({ host: 'compute-1' }))[0]!.forcedDown).toBe(false);
  });

  it("takes Vitrage's POST /v1/event and the {event} wrapper, and ignores other events", async () => {
    await bootOn(admin, lab, { 'compute-1': 1, 'compute-2': 1 });
    await start();
    const v = await fetch(`${svc.url}/v1/event`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(doctorEvent('compute-2')) });
    expect((await json(v)).hosts).toEqual([{ host: 'compute-2', vms: 1, forcedDown: true }]);
    const w = await put({ event: doctorEvent('compute-1') });
    expect((await json(w)).hosts).toEqual([{ host: 'compute-1', vms: 1, forcedDown: true }]);
    const other = await put([{ ...doctorEvent('compute-1'), type: 'compute.host.nic.down' }, doctorEvent('compute-2', { status: 'up' })]);
    expect(await json(other)).toMatchObject({ status: 'OK', hosts: [], ignored: 2 });
  });

  it('resets a VM booted onto a cached host after the cache was built (the cache is checked against Nova)', async () => {
    const early = await bootOn(admin, lab, { 'compute-1': 1 });
    await start(); // the default cache: compute-1 is cached with one VM
    const late = await bootOn(admin, lab, { 'compute-1': 1 });
    await put([doctorEvent('compute-1')]);
    expect((await admin.compute.servers.get(early['compute-1']![0]!)).status).toBe('ERROR');
    expect((await admin.compute.servers.get(late['compute-1']![0]!)).status).toBe('ERROR');
    expect(inspector.records()[0]!.vms.map((v) => v.id).sort()).toEqual([early['compute-1']![0]!, late['compute-1']![0]!].sort());
  });

  it('handles a new failure of a host after it recovered; only repeats of one failure are deduplicated', async () => {
    const vms = await bootOn(admin, lab, { 'compute-1': 1 });
    const vm = vms['compute-1']![0]!;
    await start();
    const first = await json(await put([doctorEvent('compute-1', { monitor_event_id: 'failure-1' })]));
    expect(first.hosts).toEqual([{ host: 'compute-1', vms: 1, forcedDown: true }]);
    // The operator recovers the host: force-down cleared, the VM back to ACTIVE.
    await admin.compute.services.forceDown('compute-1', false);
    await admin.compute.servers.resetState(vm, 'active');
    expect((await admin.compute.servers.get(vm)).status).toBe('ACTIVE');
    // A retry of the first failure (same monitor_event_id) is not redone...
    await put([doctorEvent('compute-1', { monitor_event_id: 'failure-1' })]);
    expect((await admin.compute.servers.get(vm)).status).toBe('ACTIVE');
    // ...but the host's next failure is.
    const second = await json(await put([doctorEvent('compute-1', { monitor_event_id: 'failure-2' })]));
    expect(second).toEqual({ status: 'OK', hosts: [{ host: 'compute-1', vms: 1, forcedDown: true }], ignored: 0 });
    expect((await admin.compute.servers.get(vm)).status).toBe('ERROR');
    expect((await admin.compute.services.list({ host: 'compute-1' }))[0]!.forcedDown).toBe(true);
    expect(inspector.records()).toHaveLength(2);
    // Events while one handling is in flight (a failure reported twice at once) share it.
    await admin.compute.servers.resetState(vm, 'active');
    const both = await Promise.all([put([doctorEvent('compute-1', { monitor_event_id: 'failure-3' })]), put([doctorEvent('compute-1', { monitor_event_id: 'failure-3b' })])]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(inspector.records()).toHaveLength(3);
    expect(await inspector.stop()).toEqual([]);
    expect((await admin.compute.services.list({ host: 'compute-1' }))[0]!.forcedDown).toBe(false);
  });

  it('sends the force-down first, by the service id it learnt before the event (no lookup queued behind the resets)', async () => {
    await bootOn(admin, lab, { 'compute-1': 5 });
    const proxy = await recordingProxy(lab.url);
    const viaProxy = clientFor(lab, { credentials: { ...lab.credentials(), endpointOverrides: { compute: `${proxy.url}/compute/v2.1` } } });
    try {
      inspector = new Inspector(viaProxy.compute, { concurrency: 5 });
      await inspector.prime();
      svc = await listen(createInspectorApp(inspector));
      const before = proxy.requests.length;
      expect(await json(await put([doctorEvent('compute-1')]))).toMatchObject({ status: 'OK', hosts: [{ host: 'compute-1', vms: 5, forcedDown: true }] });
      const atEvent = proxy.requests.slice(before);
      const id = (await admin.compute.services.list({ host: 'compute-1' }))[0]!.id;
      expect(atEvent[0]).toBe(`PUT /compute/v2.1/os-services/${id}`);
      expect(atEvent.filter((r) => r.startsWith('GET /compute/v2.1/os-services'))).toEqual([]);
      expect(atEvent.filter((r) => /POST .*\/action$/.test(r))).toHaveLength(5);
      const [r] = inspector.records();
      expect(r!.forceDownPath).toBe('uuid-2.53');
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  it('with OSProfiler on, traces only --trace-resets of the resets (the last sent always among them), and checks the host with the light list', async () => {
    const vms = (await bootOn(admin, lab, { 'compute-1': 7 }))['compute-1']!;
    const proxy = await recordingProxy(lab.url);
    const traced = clientFor(lab, { credentials: { ...lab.credentials(), endpointOverrides: { compute: `${proxy.url}/compute/v2.1` } }, profiler: { hmacKey: 'k', traceId: '4c1b8e7a-2f0f-4d6e-9a8b-1c2d3e4f5a6b' } });
    /** Per host-down event: which resets carried X-Trace-Info (by VM id, in the order they reached Nova) and what else was asked. */
    const event = async (traceResets: number | 'all', host: string) => {
      inspector = new Inspector(traced.compute, { concurrency: 1, traceResets });
      await inspector.prime();
      svc = await listen(createInspectorApp(inspector));
      const before = proxy.requests.length;
      await put([doctorEvent(host)]);
      await svc.close();
      expect(await inspector.stop()).toEqual([]);
      const at = proxy.requests.slice(before).map((r, i) => ({ r, traced: proxy.headers[before + i]!['x-trace-info'] !== undefined }));
      const resets = at.filter((x) => /^POST .*\/action$/.test(x.r)).map((x) => ({ vm: /servers\/([^/]+)\/action/.exec(x.r)![1]!, traced: x.traced }));
      return { at, resets, record: inspector.records()[0]! };
    };
    try {
      // Two of seven: the first and the last sent; the force-down and the lists are traced as before.
      const two = await event(2, 'compute-1');
      expect(two.resets.map((x) => x.vm)).toEqual(two.record.vms.map((v) => v.id));
      expect(two.resets.map((x) => x.traced)).toEqual([true, false, false, false, false, false, true]);
      expect(two.record.vms.map((v) => v.traced)).toEqual([true, false, false, false, false, false, true]);
      expect(two.at.filter((x) => x.r.startsWith('PUT ')).every((x) => x.traced)).toBe(true);
      // After the resets, the host is checked with the list of ids, not the detailed one (none was booted since).
      expect(two.at.filter((x) => x.r.startsWith('GET ')).map((x) => x.r)).toEqual(['GET /compute/v2.1/servers?all_tenants=1&host=compute-1']);
      expect(new Set(two.resets.map((x) => x.vm))).toEqual(new Set(vms));
      // None, and all (the library's default).
      for (const id of vms) await admin.compute.servers.resetState(id, 'active');
      expect((await event(0, 'compute-1')).resets.map((x) => x.traced)).toEqual(Array(7).fill(false));
      for (const id of vms) await admin.compute.servers.resetState(id, 'active');
      const all = await event('all', 'compute-1');
      expect(all.resets.map((x) => x.traced)).toEqual(Array(7).fill(true));
      expect(all.record.vms.every((v) => v.traced === undefined)).toBe(true);
    } finally {
      traced.close();
      await proxy.close();
    }
  });

  it('answers 400 naming the field for malformed events, and keeps serving', async () => {
    await start();
    const cases: Array<[unknown, string]> = [
      [[{ time: 'x', type: 'compute.host.down', details: { status: 'down' } }], 'events[0].details.hostname'],
      [[], 'events'],
      [{ event: { type: 'compute.host.down', details: { hostname: 'h', status: 'down' } } }, 'event.time'],
      ['{"not json', 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const j = await json(res);
      expect(j.field).toBe(field);
      expect(j.error).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: `));
    }
    const bad = await fetch(`${svc.url}/v1/event`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ time: 't', details: { hostname: 'h', status: 'down' } }) });
    expect((await json(bad)).field).toBe('event.type');
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  });

  it('protects the events with a token when configured', async () => {
    await bootOn(admin, lab, { 'compute-1': 1 });
    await start({ token: 'inspector-secret' });
    expect((await put([doctorEvent('compute-1')])).status).toBe(401);
    expect((await put([doctorEvent('compute-1')], { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect(inspector.records()).toEqual([]);
    expect((await put([doctorEvent('compute-1')], { Authorization: 'Bearer inspector-secret' })).status).toBe(200);
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  });

  it('reports Nova failures per VM instead of hiding them', async () => {
    const vms = await bootOn(admin, lab, { 'compute-1': 2 });
    await start();
    await admin.compute.microversion();
    lab.cloud.faults.failApi('compute', 500, { method: 'POST' });
    const res = await put([doctorEvent('compute-1')]);
    const body = await json(res);
    expect(body.status).toBe('FAILED');
    expect(body.errors).toHaveLength(2);
    expect(body.errors[0]).toMatch(new RegExp(`resetting compute-1-vm\\d \\((${vms['compute-1']!.join('|')})\\) to error failed: .*500`));
    expect(inspector.records()[0]!.markedDownAt).toBeDefined(); // force-down (a PUT) still worked
  });

  it('when Nova pushes back (429) it halves what it keeps in flight and sends the refused resets again: every VM ends in ERROR', async () => {
    const vms = await bootOn(admin, lab, { 'compute-1': 10 });
    await start();
    await admin.compute.microversion();
    // Every reset is refused twice (the first 20 reset-state POSTs), then goes through.
    lab.cloud.faults.failApi('compute', 429, { method: 'POST', count: 20 });
    const body = await json(await put([doctorEvent('compute-1')]));
    expect(body).toMatchObject({ status: 'OK', hosts: [{ host: 'compute-1', vms: 10, forcedDown: true }] });
    for (const id of vms['compute-1']!) expect((await admin.compute.servers.get(id)).status).toBe('ERROR');
    const [r] = inspector.records();
    expect(r!.errors).toEqual([]);
    expect(r!.vms.every((v) => v.resetAt !== undefined && v.error === undefined)).toBe(true);
    expect(lab.cloud.faults.describe().errors).toEqual([]);
    // From 16: halved by the first round of refusals and again by the retries' (8, 4), then at most
    // one more per reset that went through (14).
    expect(r!.concurrency).toMatchObject({ mode: 'adaptive', start: 16 });
    expect(r!.concurrency!.mode === 'adaptive' && r!.concurrency!.end).toBeLessThan(16);
    expect(lab.cloud.trace.filter((p) => p.hop === 'state_change' && p.state === 'error')).toHaveLength(10);
  });

  it('gives up on a VM the API keeps refusing (after 4 retries) and names it', async () => {
    await bootOn(admin, lab, { 'compute-1': 1 });
    await start({}, { concurrency: 3 });
    await admin.compute.microversion();
    lab.cloud.faults.failApi('compute', 503, { method: 'POST', count: 5 });
    const body = await json(await put([doctorEvent('compute-1')]));
    expect(body.status).toBe('FAILED');
    expect(body.errors).toEqual([expect.stringMatching(/^resetting compute-1-vm0 \(.+\) to error failed: POST .+ answered 503/)]);
    expect(inspector.records()[0]!.concurrency).toEqual({ mode: 'fixed', limit: 3 });
    expect(lab.cloud.faults.describe().errors).toEqual([]); // all five refusals were used: one try and four retries
  });

  it('can answer 202 at once instead of after the work', async () => {
    await bootOn(admin, lab, { 'compute-1': 1 });
    await start({ respond: 'accepted' });
    const res = await put([doctorEvent('compute-1')]);
    expect(res.status).toBe(202);
    expect(await json(res)).toMatchObject({ status: 'accepted', hosts: ['compute-1'] });
    await eventually(() => inspector.records()[0]?.doneAt, 5000, 'the work to finish');
  });
});

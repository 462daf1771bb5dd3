import { afterEach, describe, expect, it } from 'vitest';
import { doctorAlarmBody, OpenStackClient } from '../../src/openstack/index.js';
import type { LabCloud } from '../../src/lab/index.js';
import { clientFor, eventually, withCloud } from '../helpers/lab.js';
import { recordingServer } from '../helpers/http.js';

async function listener() {
  const server = await recordingServer();
  return { url: `${server.url}/failure`, received: server.received, close: server.close };
}

describe('the Doctor flow through the client against the lab cloud', () => {
  let lab: LabCloud | undefined;
  let clients: OpenStackClient[] = [];
  afterEach(async () => {
    for (const c of clients) c.close();
    clients = [];
    await lab?.stop();
  });

  it('provisions, fires exactly the affected VM alarm, forces the host down and cleans up', async () => {
    lab = await withCloud();
    const admin = clientFor(lab);
    clients.push(admin);
    const hook = await listener();
    try {
      const project = await admin.identity.createProject({ name: 'doctor', description: 'Doctor test project' });
      const password = 'pw-' + Math.random().toString(36).slice(2);
      const user = await admin.identity.createUser({ name: 'doctor', password, defaultProjectId: project.id });
      const role = await admin.identity.findFirstRole(['member', '_member_']);
      expect(role?.name).toBe('member');
      await admin.identity.assignProjectRole(project.id, user.id, role!.id);
      expect(await admin.identity.hasProjectRole(project.id, user.id, role!.id)).toBe(true);
      await admin.compute.quotas.update(project.id, { instances: 20, cores: 20 });
      expect((await admin.compute.quotas.get(project.id)).instances).toBe(20);

      const image = await admin.image.create({ name: 'doctor-image' });
      expect(image.status).toBe('queued');
      await admin.image.upload(image.id, Buffer.alloc(4096, 1));
      expect((await admin.image.get(image.id)).status).toBe('active');
      expect((await admin.image.findByName('doctor-image'))?.id).toBe(image.id);
      const flavor = await admin.compute.flavors.create({ name: 'doctor.tiny', ram: 64, vcpus: 1, disk: 1 });

      const doctor = OpenStackClient.create({
        credentials: { ...lab.credentials(), username: 'doctor', password, projectName: 'doctor' },
      });
      clients.push(doctor);
      const vms = [];
      for (let i = 0; i < 3; i++) {
        vms.push(await doctor.compute.servers.create({ name: `doctor_vm${i}`, imageRef: image.id, flavorRef: flavor.id, networks: 'none' }));
      }
      const active = await eventually(async () => {
        const list = await admin.compute.servers.listDetail({ allTenants: true });
        return list.length === 3 && list.every((s) => s.status === 'ACTIVE') ? list : undefined;
      }, 5000, 'VMs ACTIVE');
      const host = active[0]!.host!;
      const onHost = await admin.compute.servers.listDetail({ allTenants: true, host });
      expect(onHost.map((s) => s.host)).toEqual(onHost.map(() => host));
      const hyp = (await admin.compute.hypervisors.listDetail()).find((h) => h.serviceHost === host);
      expect(hyp?.hostIp).toMatch(/^198\.18\./);

      const alarms = [];
      for (const [i, vm] of vms.entries()) {
        alarms.push(await doctor.alarming.createEventAlarm(doctorAlarmBody({ name: `doctor_alarm${i}`, vmId: vm.id, consumerUrl: hook.url })));
      }
      expect(alarms[0]!.state).toBe('insufficient data');

      // Reset one VM: only its alarm fires, once.
      const target = onHost[0]!;
      await admin.compute.servers.resetState(target.id, 'error');
      await eventually(() => (hook.received.length >= 1 ? true : undefined), 5000, 'webhook');
      const fired = alarms.find((a) => a.name === hook.received[0]!.body['alarm_name']);
      const event = (hook.received[0]!.body['reason_data'] as { event: { traits: Array<[string, number, string]> } }).event;
      expect(event.traits.find((t) => t[0] === 'instance_id')?.[2]).toBe(target.id);
      expect(hook.received[0]!.body['previous']).toBe('insufficient data');
      expect(hook.received[0]!.headers['x-openstack-request-id']).toMatch(/^req-/);
      expect((await admin.alarming.get(fired!.id)).state).toBe('alarm');
      const history = await admin.alarming.history(fired!.id);
      expect(history.map((h) => h.type)).toEqual(['state transition', 'creation']);
      // A second reset to error does not fire again (repeat_actions false).
      await admin.compute.servers.resetState(target.id, 'error');
      await eventually(() => lab!.cloud.trace.filter((p) => p.hop === 'event').length >= 5 ? true : undefined, 2000, 'second event');
      await new Promise((r) => setTimeout(r, 50));
      expect(hook.received).toHaveLength(1);

      const forced = await admin.compute.services.forceDown(host, true);
      expect(forced.path).toBe('uuid-2.53');
      const after = await admin.compute.servers.get(target.id);
      expect(after.status).toBe('ERROR');
      expect(after.hostStatus).toBe('DOWN');
      await admin.compute.services.forceDown(host, false);
      expect((await admin.compute.servers.get(target.id)).hostStatus).toBe('UP');

      for (const a of alarms) await doctor.alarming.delete(a.id);
      for (const vm of vms) await admin.compute.servers.delete(vm.id);
      await admin.image.delete(image.id);
      await admin.compute.flavors.delete(flavor.id);
      await admin.identity.deleteUser(user.id);
      await admin.identity.deleteProject(project.id);
      expect(await admin.identity.findProject('doctor')).toBeUndefined();
      expect(lab.cloud.state.servers.size).toBe(0);
      expect(lab.cloud.state.alarms.size).toBe(0);
    } finally {
      await hook.close();
    }
  });

  it('uses the legacy force-down path when the cloud tops out below 2.53', async () => {
    lab = await withCloud({ computeVersions: { min: '2.1', max: '2.40' } });
    const admin = clientFor(lab);
    clients.push(admin);
    expect(await admin.compute.microversion()).toBe('2.40');
    const r = await admin.compute.services.forceDown('compute-1', true);
    expect(r.path).toBe('legacy-2.11');
    const svc = (await admin.compute.services.list({ host: 'compute-1', binary: 'nova-compute' }))[0];
    expect(svc?.forcedDown).toBe(true);
    expect(svc?.state).toBe('down');
    expect(typeof svc?.id).toBe('number');
  });
});

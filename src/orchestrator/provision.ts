import { randomBytes } from 'node:crypto';
import { HarnessError, type Logger, realSleep, TimeoutError } from '../shared/index.js';
import {
  compareMicroversions, createOpenStackClient, doctorAlarmBody,
  type CloudCredentials, type OpenStackClient, type Server,
} from '../openstack/index.js';
import type { Ledger } from './ledger.js';
import { flagOf } from './settings/index.js';

export interface ProvisionRequest {
  runId: string;
  vmCount: number;
  placement: 'one-host' | 'spread';
  imageName: string;
  consumerUrl: string;
  activeTimeoutS: number;
  /** Prefer this compute host for one-host placement (the lab's first host). */
  preferHost?: string;
  /** The run's OSProfiler trace id: every client of the run signs its requests with it. */
  traceId?: string;
  signal: AbortSignal;
  progress: (line: string) => void;
  logger: Logger;
}

export interface Provisioned {
  projectId: string;
  userId: string;
  /** The test user's client (member role in the project). */
  member: OpenStackClient;
  servers: Server[];
  /** alarm id per VM id */
  alarms: Map<string, string>;
  host: string;
  hostIp: string;
  /** VMs on the failing host: the notifications to expect. */
  affected: Server[];
  computeMicroversion: string;
  closeClients(): void;
}

const IMAGE_BYTES = 1024 * 1024;

/** Creates the test tenant and its VMs and alarms; every resource goes to the ledger as it is made. */
export async function provision(admin: OpenStackClient, credentials: CloudCredentials, ledger: Ledger, req: ProvisionRequest): Promise<Provisioned> {
  const { progress, signal } = req;
  const clients: OpenStackClient[] = [];
  const name = `doctor-${req.runId}`;
  const project = await admin.identity.createProject({ name, description: `doctor-harness run ${req.runId}` });
  ledger.add({ kind: 'project', id: project.id, name });
  const password = randomBytes(18).toString('base64url');
  const user = await admin.identity.createUser({ name, password, defaultProjectId: project.id });
  ledger.add({ kind: 'user', id: user.id, name });
  const member = await admin.identity.findFirstRole(['member', '_member_']);
  if (!member) throw new HarnessError('the cloud has neither a "member" nor a "_member_" role to give the test user');
  await admin.identity.assignProjectRole(project.id, user.id, member.id);
  const memberClient = createOpenStackClient({
    credentials: { ...credentials, username: name, userId: undefined, password, userDomainId: 'default', userDomainName: undefined, projectName: undefined, projectId: project.id, projectDomainName: undefined },
    logger: req.logger,
    ...(req.traceId ? { traceId: req.traceId } : {}),
  });
  clients.push(memberClient);

  const flavorSpec = { ram: 64, vcpus: 1, disk: 1 };
  // Headroom: raise what is short, never lower what the cloud gives (-1 is unlimited).
  const quota = await admin.compute.quotas.get(project.id);
  const need = { instances: req.vmCount, cores: req.vmCount * flavorSpec.vcpus, ram: req.vmCount * flavorSpec.ram };
  const raise = Object.fromEntries(Object.entries(need).filter(([k, v]) => quota[k as keyof typeof quota] !== -1 && quota[k as keyof typeof quota] < v));
  if (Object.keys(raise).length) await admin.compute.quotas.update(project.id, raise);
  const microversion = await admin.compute.microversion();

  let image = await admin.image.findByName(req.imageName);
  if (!image || image.status !== 'active') {
    progress(`uploading a ${IMAGE_BYTES / 1024} KiB image "${req.imageName}"`);
    image = await admin.image.create({ name: req.imageName, visibility: 'public' });
    ledger.add({ kind: 'image', id: image.id, name: req.imageName });
    await admin.image.upload(image.id, Buffer.alloc(IMAGE_BYTES));
  }
  const flavor = await admin.compute.flavors.create({ name, ...flavorSpec });
  ledger.add({ kind: 'flavor', id: flavor.id, name });

  let networks: 'none' | string[] = 'none';
  if (compareMicroversions(microversion, '2.37') < 0) {
    // Before 2.37 a server cannot ask for no network: give it one of its own.
    const net = await admin.network.createNetwork({ name, projectId: project.id });
    ledger.add({ kind: 'network', id: net.id, name });
    const sub = await admin.network.createSubnet({ name, networkId: net.id, cidr: '192.168.168.0/24' });
    ledger.add({ kind: 'subnet', id: sub.id, name });
    networks = [net.id];
  }

  // One host: an admin token scoped to the test project may pin the host (Doctor grants the same role).
  let creator = memberClient;
  let zone: string | undefined;
  let host: string | undefined;
  if (req.placement === 'one-host') {
    const hyps = (await admin.compute.hypervisors.listDetail()).filter((h) => h.state === 'up' && h.status === 'enabled');
    const chosen = hyps.find((h) => h.serviceHost === req.preferHost) ?? hyps[0];
    if (!chosen) throw new HarnessError('no compute host is up and enabled (GET /os-hypervisors/detail); nothing to run VMs on');
    host = chosen.serviceHost;
    zone = `nova:${host}`;
    const adminRole = await admin.identity.findRole('admin');
    const adminToken = await admin.session.token();
    if (!adminRole) throw new HarnessError('the cloud has no "admin" role');
    await admin.identity.assignProjectRole(project.id, adminToken.userId, adminRole.id);
    ledger.add({ kind: 'grant', projectId: project.id, userId: adminToken.userId, roleId: adminRole.id });
    creator = createOpenStackClient({
      credentials: { ...credentials, projectName: undefined, projectId: project.id, projectDomainName: undefined }, logger: req.logger,
      ...(req.traceId ? { traceId: req.traceId } : {}),
    });
    clients.push(creator);
  }

  // One request for all of them (Nova's multi-create: min_count = max_count, all or none within the
  // quotas), so hundreds of VMs cost one API call and one scheduling; their reservation id finds them.
  progress(`booting ${req.vmCount} VM(s)${host ? ` on ${host}` : ''}${req.vmCount > 1 ? ' in one request' : ''}`);
  signal.throwIfAborted();
  const spec = { name: 'doctor_vm', imageRef: image.id, flavorRef: flavor.id, networks, ...(zone ? { availabilityZone: zone } : {}) };
  let ids: string[];
  if (req.vmCount === 1) {
    const { id } = await creator.compute.servers.create({ ...spec, name: 'doctor_vm0' });
    ledger.add({ kind: 'server', id, name: 'doctor_vm0' });
    ids = [id];
  } else {
    const { reservationId } = await creator.compute.servers.createMany(spec, req.vmCount);
    // Recorded at once; a crash before this is still cleaned up (the teardown sweeps the project).
    const made = (await creator.compute.servers.listDetail({ reservationId }))
      .sort((a, b) => Number(/-(\d+)$/.exec(a.name)?.[1] ?? 0) - Number(/-(\d+)$/.exec(b.name)?.[1] ?? 0));
    for (const x of made) ledger.add({ kind: 'server', id: x.id, name: x.name });
    if (made.length !== req.vmCount) throw new HarnessError(`Nova made ${made.length} of the ${req.vmCount} servers asked in one request (reservation ${reservationId})`);
    ids = made.map((x) => x.id);
  }
  const servers = await waitActive(admin, project.id, ids, req.activeTimeoutS * 1000, signal);
  progress(`${servers.length} VM(s) ACTIVE`);

  host ??= servers[0]!.host!;
  const hyp = (await admin.compute.hypervisors.listDetail()).find((h) => h.serviceHost === host);
  if (!hyp?.hostIp) throw new HarnessError(`Nova gives no host_ip for ${host} (GET /os-hypervisors/detail); set the installer IP or fix the hypervisor record`);
  const affected = servers.filter((s) => s.host === host);

  const alarms = new Map<string, string>();
  for (const [i, s] of servers.entries()) {
    signal.throwIfAborted();
    // Aodh only evaluates event alarms owned by the VM's project: create them as the test user.
    const a = await memberClient.alarming.createEventAlarm(doctorAlarmBody({ name: `doctor_alarm${i}`, vmId: s.id, consumerUrl: req.consumerUrl }));
    ledger.add({ kind: 'alarm', id: a.id, name: a.name });
    alarms.set(s.id, a.id);
  }
  return {
    projectId: project.id, userId: user.id, member: memberClient, servers, alarms, host, hostIp: hyp.hostIp, affected, computeMicroversion: microversion,
    closeClients: () => clients.forEach((c) => c.close()),
  };
}

async function waitActive(admin: OpenStackClient, projectId: string, ids: string[], timeoutMs: number, signal: AbortSignal): Promise<Server[]> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
    const mine = (await admin.compute.servers.listDetail({ allTenants: true })).filter((s) => s.projectId === projectId && ids.includes(s.id));
    const failed = mine.find((s) => s.status === 'ERROR');
    if (failed) throw new HarnessError(`VM ${failed.name} (${failed.id}) went to ERROR while booting; see nova-conductor and nova-compute logs`);
    if (mine.length === ids.length && mine.every((s) => s.status === 'ACTIVE')) return ids.map((id) => mine.find((s) => s.id === id)!);
    if (Date.now() + delay > deadline) {
      const waiting = mine.filter((s) => s.status !== 'ACTIVE').map((s) => `${s.name}=${s.status}`);
      throw new TimeoutError(`VMs not ACTIVE within ${timeoutMs / 1000} s (${waiting.join(', ') || 'none listed'}); raise ${flagOf('activeTimeoutS')} or check the cloud`, timeoutMs);
    }
    await realSleep(delay, signal);
  }
}

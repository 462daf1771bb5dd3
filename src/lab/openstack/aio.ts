import { chmodSync, existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HarnessError, type Runner, runProcess } from '../../shared/index.js';
import { acquireLock } from '../hosts/state.js';
import { labDown, labUp } from '../hosts/index.js';
import { toCloudsYaml } from '../../openstack/index.js';
import { database, redis, glancePrepare, glanceStart, keystonePrepare, keystoneStart, mariadb, placementPrepare, placementStart, rabbit } from './base.js';
import { computesStart, neutronPrepare, neutronStart, novaPrepare, novaStart } from './compute.js';
import {
  adminCredentials, keystoneUrl, labOn, must, osprofilerConnection, readOpenStackState, registerServices, saveState, type Lab, type OpenStackLabState,
} from './context.js';
import { DEFAULT_PORTS, type PortName } from '../catalog/index.js';
import { pssKiB, stopTagged, taggedProcesses } from './procs.js';
import { isCompute, isRunning, service, SERVICES, type ServiceKey } from './services.js';
import { writeControllerLayout } from './restart.js';
import { aodhPrepare, aodhStart, ceilometerStart } from './telemetry.js';

export type { OpenStackLabState } from './context.js';
export { readOpenStackState } from './context.js';

/**
 * The OpenStack lab, multi-node on one machine: the control plane (MariaDB, RabbitMQ, Keystone,
 * Placement, Glance, Neutron, Nova API/conductor/scheduler, Ceilometer's notification agent, Aodh) from
 * Debian's packages runs inside a controller namespace host and listens on its lab address; each fake
 * nova-compute runs inside its own compute host's namespace and reaches the controller over the lab
 * network, so a link-down on a compute also cuts its nova-compute off the message bus. This machine's
 * root namespace is the jump host: it reaches the APIs at the controller's address, and the controller
 * cannot reach its loopback (a run's consumer is reached through a reverse tunnel). All state in one
 * folder, every process tagged with the lab in its environment.
 */
export interface OpenStackLabOptions {
  stateDir: string;
  ports?: Partial<Record<PortName, number>>;
  /** Fake nova-computes (and namespace hosts); default 2. */
  computes?: number;
  /** Processes serving Nova's API (default 2); a running API is restarted when this changes. */
  novaApiWorkers?: number;
  /** Names the namespace hosts (1-5 lowercase letters or digits); default "aio". */
  labId?: string;
  progress?: (line: string) => void;
  run?: Runner;
}

const BINARIES: Array<[string, string]> = [
  ['/usr/sbin/mariadbd', 'mariadb-server'],
  ['/usr/bin/mariadb-install-db', 'mariadb-server'],
  ['/usr/bin/keystone-manage', 'keystone'],
  ['/usr/bin/keystone-wsgi-public', 'keystone'],
  ['/usr/bin/uwsgi', 'uwsgi-core'],
  ['/usr/lib/uwsgi/plugins/python3_plugin.so', 'uwsgi-plugin-python3'],
  ['/usr/lib/python3/dist-packages/pymysql', 'python3-pymysql'],
  ['/usr/sbin/rabbitmq-server', 'rabbitmq-server'],
  ['/usr/sbin/rabbitmqctl', 'rabbitmq-server'],
  ['/usr/bin/placement-api', 'placement-api'],
  ['/usr/bin/placement-manage', 'placement-api'],
  ['/usr/bin/glance-api', 'glance-api'],
  ['/usr/bin/glance-manage', 'glance-api'],
  ['/usr/bin/neutron-server', 'neutron-server'],
  ['/usr/bin/neutron-db-manage', 'neutron-server'],
  ['/usr/bin/nova-api-wsgi', 'nova-api'],
  ['/usr/bin/nova-manage', 'nova-api'],
  ['/usr/bin/nova-conductor', 'nova-conductor'],
  ['/usr/bin/nova-scheduler', 'nova-scheduler'],
  ['/usr/bin/nova-compute', 'nova-compute'],
  ['/usr/bin/ceilometer-agent-notification', 'ceilometer-agent-notification'],
  ['/usr/bin/aodh-dbsync', 'aodh-api'],
  ['/usr/bin/aodh-listener', 'aodh-listener'],
  ['/usr/bin/aodh-notifier', 'aodh-notifier'],
  ['/usr/bin/redis-server', 'redis-server'],
  ['/usr/lib/python3/dist-packages/osprofiler', 'python3-osprofiler'],
  ['/usr/lib/python3/dist-packages/redis', 'python3-redis'],
];

/** Brings the lab up (or repairs it: running services are left alone). */
export async function openstackUp(opts: OpenStackLabOptions): Promise<OpenStackLabState> {
  const run = opts.run ?? runProcess;
  const say = opts.progress ?? (() => {});
  if (process.getuid?.() !== 0) throw new HarnessError('the OpenStack lab needs root (it runs MariaDB, RabbitMQ and network namespaces)');
  const missing = [...new Set(BINARIES.filter(([f]) => !existsSync(f)).map(([, pkg]) => pkg))];
  if (missing.length) throw new HarnessError(`the OpenStack lab needs Debian packages that are missing: ${missing.join(', ')}; run ./scripts/setup --openstack`);
  const computes = opts.computes ?? 2;
  if (!Number.isInteger(computes) || computes < 1 || computes > 16) throw new HarnessError(`--computes must be a whole number from 1 to 16 (got ${opts.computes})`);
  // MariaDB runs as mysql: it must be able to traverse to its data (secrets stay in a 0700 folder).
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(opts.stateDir, 0o711);
  const unlock = acquireLock(opts.stateDir);
  try {
    const old = readOpenStackState(opts.stateDir);
    const s: OpenStackLabState = old ?? {
      version: 3, stateDir: opts.stateDir, address: '', controllerNamespace: '', phase: 'creating', ports: { ...DEFAULT_PORTS, ...opts.ports }, computes, novaApiWorkers: 2, labId: opts.labId ?? 'aio',
      hostsDir: join(opts.stateDir, 'hosts'), pids: {}, cloudsYaml: join(opts.stateDir, 'clouds.yaml'), runConfig: join(opts.stateDir, 'doctor.yaml'),
    };
    if (old && opts.ports && Object.entries(opts.ports).some(([k, v]) => v !== undefined && old.ports[k as PortName] !== v)) {
      throw new HarnessError(`the lab in ${opts.stateDir} already uses other ports (${JSON.stringify(old.ports)}); bring it down first to change them`);
    }
    s.computes = computes;
    const workers = opts.novaApiWorkers ?? old?.novaApiWorkers ?? 2;
    if (!Number.isInteger(workers) || workers < 1 || workers > 32) throw new HarnessError(`--nova-api-workers must be a whole number from 1 to 32 (got ${opts.novaApiWorkers})`);
    if (old && old.novaApiWorkers !== workers && isRunning(s.stateDir, 'nova-api')) {
      say(`restarting Nova API with ${workers} workers`);
      await stopTagged(s.stateDir, service('nova-api').is);
    }
    s.novaApiWorkers = workers;
    s.phase = 'creating';
    saveState(s);
    const t0 = Date.now();
    const step = async <T>(what: string, work: Promise<T>): Promise<T> => {
      const r = await work;
      say(`${what} ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return r;
    };

    // 1. The hosts (the controller and the computes); then the broker in the background, the databases first.
    const hosts = await step(`the controller and ${computes} compute host(s)`, labUp({ stateDir: s.hostsDir, labId: s.labId, hosts: computes, controller: true, run }));
    s.address = hosts.controller!.hostIp;
    s.controllerNamespace = hosts.controller!.namespace;
    saveState(s);
    const lab = labOn(s, run, say);
    await reservePorts(lab);
    const broker = step('RabbitMQ', rabbit(lab));
    const spans = step('Redis', redis(lab));
    spans.catch(() => {});
    broker.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled meanwhile
    await step('MariaDB', mariadb(lab));
    for (const [user, dbs] of [['keystone'], ['placement'], ['glance'], ['neutron'], ['nova', ['nova_api', 'nova', 'nova_cell0']], ['aodh']] as Array<[string, string[]?]>) {
      await database(lab, user, dbs);
    }
    // 2. Schema migrations in parallel; Keystone's is the longest and gates the catalog.
    say('migrating the databases (Keystone, Placement, Glance, Neutron, Nova, Aodh)');
    await Promise.all([
      step('Keystone', keystonePrepare(lab).then(() => keystoneStart(lab))),
      step('Placement schema', placementPrepare(lab)),
      step('Glance schema', glancePrepare(lab)),
      step('Neutron schema', neutronPrepare(lab)),
      step('Nova cells and schemas', novaPrepare(lab)),
      step('Aodh schema', aodhPrepare(lab)),
    ]);
    await broker;
    await spans;
    // 3. The services' users and endpoints, then the services.
    await registerServices(s);
    await Promise.all([
      step('Placement', placementStart(lab)),
      step('Glance', glanceStart(lab)),
      step('Neutron', neutronStart(lab)),
      step('Ceilometer', ceilometerStart(lab)),
      step('Aodh', aodhStart(lab)),
      step('Nova API, conductor and scheduler', novaStart(lab)),
    ]);
    // 4. The fake computes, one per compute host, mapped into cell1.
    await step(`nova-compute on ${hosts.hosts.map((h) => h.name).join(', ')}`, computesStart(lab, hosts.hosts));
    await stopExtraComputes(s, hosts.hosts.map((h) => h.name));

    writeFileSync(s.cloudsYaml, toCloudsYaml('doctor-openstack', adminCredentials(s)), { mode: 0o600 });
    writeFileSync(s.runConfig, [
      '# doctor run settings for the OpenStack lab: its compute hosts\' SSH key and known_hosts.',
      `sshKey: ${hosts.harnessKey}`, `knownHosts: ${hosts.knownHosts}`, 'sshUser: root',
      '# the computes are namespace hosts of this lab: a run puts their link back as soon as it is done with it',
      `labStateDir: ${hosts.stateDir}`,
      '# where the services keep the OSProfiler spans of a run (the key is in clouds.yaml: profile)',
      `osprofilerConnection: ${osprofilerConnection(s)}`,
      '# the controller\'s files a run sets up (the alarm sink, the cache TTL) and restores, and how it restarts their services',
      `controllerLayout: ${writeControllerLayout(s)}`, '',
    ].join('\n'), { mode: 0o600 });
    s.phase = 'up';
    saveState(s);
    say(`OpenStack lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s: Keystone ${keystoneUrl(s)}; clouds.yaml entry "doctor-openstack" in ${s.cloudsYaml}`);
    return s;
  } finally {
    unlock();
  }
}

/** A lab brought up again with fewer computes stops the ones it no longer has. */
async function stopExtraComputes(s: OpenStackLabState, hosts: string[]): Promise<void> {
  await stopTagged(s.stateDir, (p) => service('nova-compute').is(p) && !hosts.some((h) => isCompute(p, h)));
}

export async function openstackDown(opts: { stateDir: string; progress?: (l: string) => void; run?: Runner }): Promise<boolean> {
  if (!existsSync(opts.stateDir)) return false;
  const unlock = acquireLock(opts.stateDir);
  try {
    // By the lab's tag, whatever became of their parents: the OpenStack services together, then the broker, the database last.
    const stop = async (service: (typeof SERVICES)[number]) => {
      if (!isRunning(opts.stateDir, service.key)) return;
      opts.progress?.(`stopping ${service.label}`);
      await stopTagged(opts.stateDir, service.is, service.graceMs);
    };
    const infrastructure: ServiceKey[] = ['redis', 'rabbitmq', 'epmd', 'mariadb'];
    await Promise.all(SERVICES.filter((x) => !infrastructure.includes(x.key)).map(stop));
    for (const key of infrastructure) await stop(service(key));
    await stopTagged(opts.stateDir); // anything else the lab started
    await labDown({ stateDir: join(opts.stateDir, 'hosts'), ...(opts.run ? { run: opts.run } : {}), ...(opts.progress ? { progress: opts.progress } : {}) });
  } finally {
    unlock();
  }
  rmSync(opts.stateDir, { recursive: true, force: true });
  // The default folder's parent (/var/lib/doctor-harness) was made for it: remove it when empty.
  const parent = dirname(opts.stateDir);
  if (basename(parent) === 'doctor-harness') {
    try {
      rmdirSync(parent);
    } catch {
      /* not empty, or not ours to remove */
    }
  }
  return true;
}

export interface OpenStackLabStatus {
  state?: OpenStackLabState;
  /** Service → running; computes as "nova-compute <host>". */
  services: Record<string, boolean>;
  /** Service → memory of its processes (PSS, MiB), and of every process of the lab. */
  memoryMiB: Record<string, number>;
  totalMiB: number;
}

export function openstackStatus(stateDir: string): OpenStackLabStatus {
  const s = readOpenStackState(stateDir);
  if (!s) return { services: {}, memoryMiB: {}, totalMiB: 0 };
  const procs = taggedProcesses(stateDir);
  const pss = new Map(procs.map((p) => [p.pid, pssKiB(p.pid)]));
  const mib = (ps: typeof procs) => Math.round(ps.reduce((n, p) => n + pss.get(p.pid)!, 0) / 102.4) / 10;
  const services: Record<string, boolean> = {};
  const memoryMiB: Record<string, number> = {};
  const add = (name: string, ps: typeof procs) => {
    services[name] = ps.length > 0;
    memoryMiB[name] = mib(ps);
  };
  for (const x of SERVICES) {
    if (x.key === 'epmd') continue;
    if (x.key === 'nova-compute') {
      for (let i = 1; i <= s.computes; i++) add(`nova-compute compute-${i}`, procs.filter((p) => isCompute(p, `compute-${i}`)));
    } else add(x.key, procs.filter(x.is));
  }
  return { state: s, services, memoryMiB, totalMiB: mib(procs) };
}

/**
 * The services' ports are reserved in the controller's namespace: a port picked free on this machine
 * (tests, a second lab) may lie in the kernel's ephemeral range, and a client connection of another
 * service (a database or broker connection made while nova-api restarts) could take it as its local
 * port, so the restarted service would not bind again.
 */
async function reservePorts(lab: Lab): Promise<void> {
  const ports = [...Object.values(lab.s.ports), lab.s.ports.rabbit + 1, lab.s.ports.rabbit + 2]; // and RabbitMQ's epmd and distribution ports
  await must(lab.run, 'sh', ['-c', `echo ${ports.sort((a, b) => a - b).join(',')} > /proc/sys/net/ipv4/ip_local_reserved_ports`]);
}

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenStackClient } from '../../openstack/index.js';
import type { LabState } from '../hosts/index.js';
import { rabbitctl } from './base.js';
import {
  adminCredentials, authtoken, dbUrl, ensureRunning, must, profilerSection, serviceAuth, serviceDir, startPython, startUwsgi, transportUrl, waitFor, waitForHttp, writeIni, type Lab, type OpenStackLabState,
} from './context.js';
import { startService, taggedProcesses } from './procs.js';
import { isCompute, isRunning } from './services.js';

/** How Nova tells Ceilometer about state changes (Doctor's alarms are built on these). */
const NOTIFICATIONS = {
  notifications: { notify_on_state_change: 'vm_and_task_state', notification_format: 'unversioned' },
  oslo_messaging_notifications: { driver: 'messagingv2' },
};

/**
 * Neutron: a real neutron-server with ML2 and no mechanism drivers. Nova's API
 * asks Neutron about every server it shows, so something must answer; VMs
 * boot with `networks: "none"`.
 */
function neutronConf(lab: Lab): string {
  const { s } = lab;
  const dir = serviceDir(s, 'neutron');
  const conf = join(dir, 'neutron.conf');
  writeIni(conf, {
    DEFAULT: {
      bind_host: s.address, bind_port: s.ports.neutron, core_plugin: 'ml2', service_plugins: '', auth_strategy: 'keystone',
      transport_url: transportUrl(s), api_workers: 1, rpc_workers: 0, rpc_state_report_workers: 0, log_dir: dir, state_path: dir,
      notify_nova_on_port_status_changes: false, notify_nova_on_port_data_changes: false,
    },
    database: { connection: dbUrl(s, 'neutron') },
    keystone_authtoken: authtoken(s, 'neutron'),
    // As the recorded Zed lab: no tenant network types (a member's network is a 503), flat provider networks for admins.
    ml2: { type_drivers: 'flat', tenant_network_types: '', mechanism_drivers: '', extension_drivers: '' },
    ml2_type_flat: { flat_networks: '*' },
    oslo_concurrency: { lock_path: join(dir, 'lock') },
  });
  return conf;
}

export async function neutronPrepare(lab: Lab): Promise<void> {
  const conf = neutronConf(lab);
  if (!isRunning(lab.s.stateDir, 'neutron')) await must(lab.run, 'neutron-db-manage', ['--config-file', conf, 'upgrade', 'heads']);
}

export async function neutronStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const url = `http://${s.address}:${s.ports.neutron}`;
  const conf = neutronConf(lab);
  const dir = serviceDir(s, 'neutron');
  ensureRunning(lab, 'neutron', () => startPython(lab, dir, 'neutron-server', conf), `Neutron on ${s.address}:${s.ports.neutron}`);
  await waitForHttp(`${url}/`, [200], 'Neutron', join(dir, 'neutron-server.log'));
  // The first authenticated call loads the plugin's extensions; do it now, not inside the first VM's boot.
  const c = OpenStackClient.create({ credentials: adminCredentials(s) });
  try {
    await c.network.listNetworks();
  } finally {
    c.close();
  }
}

/** Nova's API, conductor and scheduler share nova.conf; computes get their own, without database settings. */
function novaConf(lab: Lab): string {
  const { s } = lab;
  const dir = serviceDir(s, 'nova');
  const conf = join(dir, 'nova.conf');
  writeIni(conf, {
    DEFAULT: { transport_url: transportUrl(s), log_dir: dir, state_path: join(dir, 'state'), my_ip: s.address },
    api: { auth_strategy: 'keystone' },
    api_database: { connection: dbUrl(s, 'nova', 'nova_api') },
    database: { connection: dbUrl(s, 'nova', 'nova') },
    keystone_authtoken: authtoken(s, 'nova'),
    placement: serviceAuth(s, 'nova'),
    neutron: serviceAuth(s, 'nova'),
    conductor: { workers: 1 },
    scheduler: { workers: 1, discover_hosts_in_cells_interval: -1 },
    wsgi: { api_paste_config: '/etc/nova/api-paste.ini' },
    oslo_concurrency: { lock_path: join(dir, 'lock') },
    profiler: profilerSection(s),
    ...NOTIFICATIONS,
  });
  return conf;
}

export async function novaPrepare(lab: Lab): Promise<void> {
  const { s, run } = lab;
  const conf = novaConf(lab);
  if (isRunning(s.stateDir, 'nova-api')) return;
  const manage = (...args: string[]) => must(run, 'nova-manage', ['--config-file', conf, ...args]);
  await manage('api_db', 'sync');
  // cell0 and cell1 take their database URLs and transport from nova.conf: nothing secret on the command line.
  await manage('cell_v2', 'map_cell0');
  const cells = (await manage('cell_v2', 'list_cells')).stdout;
  if (!/\|\s*cell1\s*\|/.test(cells)) await manage('cell_v2', 'create_cell', '--name', 'cell1');
  await manage('db', 'sync');
}

/**
 * Nova's own application (/usr/bin/nova-api-wsgi's init_application) behind a per-request profiler that is
 * off until a run writes the flag file (doctor run --profile-cloud nova-api); Nova's files stay as shipped.
 */
const PROFILED_WSGI = fileURLToPath(new URL('../../../scripts/lab/nova-api-profiled/nova-api-wsgi', import.meta.url));

/**
 * nova-conductor and nova-compute as Nova's own entry points start them, beside a green thread that profiles
 * the whole process while a run's flag file is there (doctor run --profile-cloud nova-conductor,nova-compute).
 */
function profiledWrapper(bin: 'nova-conductor' | 'nova-compute', flag: string, name?: string): { script: string; env: Record<string, string> } {
  return {
    script: fileURLToPath(new URL(`../../../scripts/lab/nova-profiled/${bin}`, import.meta.url)),
    env: { DOCTOR_PROFILE_FLAG: flag, ...(name ? { DOCTOR_PROFILE_NAME: name } : {}), PYTHONDONTWRITEBYTECODE: '1' },
  };
}

/** Where a run switches each service's profiler on (the flag) and where it writes the profiles: one folder each. */
export function novaProfileHooks(s: OpenStackLabState): Record<'novaApi' | 'novaConductor' | 'novaCompute', { flag: string; dir: string }> {
  const hook = (name: string) => {
    const dir = join(serviceDir(s, 'nova'), name);
    return { flag: join(dir, 'on'), dir };
  };
  return { novaApi: hook('profile'), novaConductor: hook('profile-conductor'), novaCompute: hook('profile-compute') };
}

/** Nova's API under uwsgi, on its configuration as it is (a restart keeps what a set-up wrote). */
export function startNovaApi(lab: Lab): number {
  const dir = serviceDir(lab.s, 'nova');
  const profile = novaProfileHooks(lab.s).novaApi;
  mkdirSync(profile.dir, { recursive: true, mode: 0o700 });
  // The first file is the paste pipeline (Debian's), the second our settings. Nova's API monkey-patches eventlet: processes, not threads.
  return startUwsgi(lab, dir, lab.s.ports.nova, PROFILED_WSGI, { OS_NOVA_CONFIG_DIR: dir, OS_NOVA_CONFIG_FILES: '/etc/nova/api-paste.ini;nova.conf', DOCTOR_PROFILE_FLAG: profile.flag }, { processes: lab.s.novaApiWorkers, threads: 1 });
}

export async function novaStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const url = `http://${s.address}:${s.ports.nova}`;
  const conf = novaConf(lab);
  const dir = serviceDir(s, 'nova');
  ensureRunning(lab, 'nova-api', () => startNovaApi(lab), `Nova API on ${s.address}:${s.ports.nova}`);
  const conductorProfile = novaProfileHooks(s).novaConductor;
  mkdirSync(conductorProfile.dir, { recursive: true, mode: 0o700 });
  ensureRunning(lab, 'nova-conductor', () => startPython(lab, dir, 'nova-conductor', conf, { wrapper: profiledWrapper('nova-conductor', conductorProfile.flag) }));
  ensureRunning(lab, 'nova-scheduler', () => startPython(lab, dir, 'nova-scheduler', conf));
  await waitForHttp(`${url}/`, [200], 'Nova API', join(dir, 'uwsgi.log'));
  // Computes report to the conductor over RPC: it must be consuming first.
  await waitFor(async () => {
    const r = await rabbitctl(lab, ['list_queues', '--quiet', 'name', 'consumers']);
    return /^conductor\s+[1-9]/m.test(r.stdout);
  }, 'the Nova conductor (a consumer on the "conductor" queue)', join(dir, 'nova-conductor.log'));
}

/**
 * One fake nova-compute per lab host: `host` is the lab host's name and
 * `my_ip` its address, so Nova's hypervisor host_ip is a namespace with sshd
 * that the monitor pings and the fault takes down.
 */
export async function computesStart(lab: Lab, hosts: LabState['hosts']): Promise<void> {
  const { s, say } = lab;
  const dir = serviceDir(s, 'nova');
  const running = taggedProcesses(s.stateDir);
  const profile = novaProfileHooks(s).novaCompute;
  mkdirSync(profile.dir, { recursive: true, mode: 0o700 });
  for (const h of hosts) {
    const conf = join(dir, `${h.name}.conf`);
    const state = join(dir, h.name);
    mkdirSync(state, { recursive: true, mode: 0o700 });
    writeIni(conf, {
      DEFAULT: {
        host: h.name, my_ip: h.hostIp, compute_driver: 'fake.FakeDriver', transport_url: transportUrl(s),
        state_path: state, log_file: join(dir, `${h.name}.log`),
      },
      placement: serviceAuth(s, 'nova'),
      neutron: serviceAuth(s, 'nova'),
      oslo_concurrency: { lock_path: join(state, 'lock') },
      ...NOTIFICATIONS,
    });
    if (running.some((p) => isCompute(p, h.name))) continue;
    say(`starting nova-compute for ${h.name} (${h.hostIp})`);
    const wrapper = profiledWrapper('nova-compute', profile.flag, `nova-compute_${h.name}`);
    lab.started(`nova-compute-${h.name}`, startService('/usr/bin/python3', [wrapper.script, '--config-file', conf], {
      log: join(state, 'nova-compute.out'), cwd: state, tag: s.stateDir, netns: h.namespace, env: wrapper.env,
    }));
  }
  const c = OpenStackClient.create({ credentials: adminCredentials(s) });
  try {
    const names = hosts.map((h) => h.name);
    const upHosts = async () => (await c.compute.services.list({ binary: 'nova-compute' })).filter((x) => x.state === 'up').map((x) => x.host);
    await waitFor(async () => {
      const up = await upHosts();
      return names.every((n) => up.includes(n));
    }, `nova-compute on ${names.join(', ')}`, join(dir, `${hosts[0]!.name}.log`));
    // Map the new hosts to cell1 (what the scheduler needs to place VMs on them).
    await must(lab.run, 'nova-manage', ['--config-file', join(dir, 'nova.conf'), 'cell_v2', 'discover_hosts']);
    await waitFor(async () => {
      const hyps = await c.compute.hypervisors.listDetail();
      return names.every((n) => hyps.some((h) => h.serviceHost === n && h.state === 'up'));
    }, `the hypervisors of ${names.join(', ')}`, join(dir, `${hosts[0]!.name}.log`));
  } finally {
    c.close();
  }
}

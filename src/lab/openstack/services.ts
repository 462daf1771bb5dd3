import { taggedProcesses, type TaggedProcess } from './procs.js';

const uwsgi = (app: string) => (p: TaggedProcess) => p.cmd.startsWith('/usr/bin/uwsgi') && p.cmd.includes(app);
const python = (bin: string) => (p: TaggedProcess) => !p.cmd.startsWith('/usr/bin/uwsgi') && p.cmd.includes(bin);

/**
 * The lab's services in start order (down stops them in reverse): how to
 * recognise each among the lab's tagged processes, how long it may take to stop.
 */
export const SERVICES = [
  { key: 'mariadb', label: 'MariaDB', graceMs: 30_000, is: (p: TaggedProcess) => p.cmd.startsWith('/usr/sbin/mariadbd') },
  { key: 'epmd', label: 'epmd', graceMs: 5_000, is: (p: TaggedProcess) => p.cmd.startsWith('epmd') },
  { key: 'rabbitmq', label: 'RabbitMQ', graceMs: 30_000, is: (p: TaggedProcess) => p.cmd.includes('beam.smp') },
  { key: 'redis', label: 'Redis (OSProfiler spans)', graceMs: 5_000, is: (p: TaggedProcess) => p.cmd.startsWith('/usr/bin/redis-server') },
  { key: 'keystone', label: 'Keystone', graceMs: 10_000, is: uwsgi('keystone-wsgi-public') },
  { key: 'placement', label: 'Placement', graceMs: 10_000, is: uwsgi('placement-api') },
  { key: 'glance', label: 'Glance', graceMs: 10_000, is: python('glance-api') },
  { key: 'neutron', label: 'Neutron', graceMs: 10_000, is: python('neutron-server') },
  { key: 'nova-api', label: 'Nova API', graceMs: 10_000, is: uwsgi('nova-api-wsgi') },
  { key: 'nova-conductor', label: 'Nova conductor', graceMs: 10_000, is: python('nova-conductor') },
  { key: 'nova-scheduler', label: 'Nova scheduler', graceMs: 10_000, is: python('nova-scheduler') },
  { key: 'ceilometer', label: 'Ceilometer notification agent', graceMs: 10_000, is: python('ceilometer-agent-notification') },
  { key: 'aodh-api', label: 'Aodh API', graceMs: 10_000, is: uwsgi('aodh-api.wsgi') },
  { key: 'aodh-listener', label: 'Aodh listener', graceMs: 10_000, is: python('aodh-listener') },
  { key: 'aodh-notifier', label: 'Aodh notifier', graceMs: 10_000, is: python('aodh-notifier') },
  { key: 'nova-compute', label: 'Nova computes', graceMs: 10_000, is: python('nova-compute') },
] as const;
export type ServiceKey = (typeof SERVICES)[number]['key'];

export function service(key: ServiceKey) {
  return SERVICES.find((x) => x.key === key)!;
}

export function isRunning(stateDir: string, key: ServiceKey): boolean {
  return taggedProcesses(stateDir).some(service(key).is);
}

/** The fake compute for one lab host: its process carries its config file, named after the host. */
export function isCompute(p: TaggedProcess, host: string): boolean {
  return service('nova-compute').is(p) && p.cmd.includes(`/${host}.conf`);
}

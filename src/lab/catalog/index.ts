/**
 * What the lab offers, as plain data and nothing else imported: the CLI builds its help from it without
 * loading the lab itself (every command, `doctor monitor` at thousands of hosts too, pays for what it loads).
 */

/**
 * The all-in-one lab's ports, on the controller's address (`doctor lab openstack up --ports` changes them);
 * RabbitMQ also takes rabbit + 1 (epmd) and rabbit + 2 (Erlang distribution), on the controller's loopback.
 */
export const DEFAULT_PORTS = { keystone: 5000, mysql: 13306, rabbit: 5672, placement: 8778, glance: 9292, neutron: 9696, nova: 8774, aodh: 8042, redis: 16379 };
export type PortName = keyof typeof DEFAULT_PORTS;

/** The all-in-one lab's services `doctor lab openstack restart` restarts (a controller set-up's restarts). */
export const RESTARTABLE_SERVICES = ['ceilometer', 'aodh-listener', 'nova-api'] as const;
export type RestartableService = (typeof RESTARTABLE_SERVICES)[number];

export function isRestartableService(name: string): name is RestartableService {
  return (RESTARTABLE_SERVICES as readonly string[]).includes(name);
}

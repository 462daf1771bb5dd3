/**
 * The monitor fleet: agents join a group on etcd (leases), split the compute hosts with tooz's consistent
 * hash ring, and commit each host-down once (an etcd transaction) before the inspector hears of it.
 */
export { HashRing } from './ring.js';
export { FleetAgent, type FleetAgentOptions, type Assignment } from './agent.js';
export { FleetStore, fleetClient, parseEtcdUrl, type MemberRecord, type DownRecord } from './store.js';

/**
 * The simulated OpenStack of the embedded lab: Keystone, Nova, Glance, Neutron
 * and Aodh subsets, stateful and in memory, faithful to the recorded Zed
 * payloads and status codes, with the Nova → event → Aodh → webhook chain,
 * per-hop latency, a trace feed and fault switches.
 */
export { startCloud, type LabCloud, type StartCloudOptions } from './server.js';
export { createCloudApp } from './app.js';
export { Cloud, DEFAULT_HOSTS, type CloudOptions, type HopLatency, type TracePoint, type TraceHop } from './cloud.js';
export type { ComputeHostSpec } from './state.js';
export { webhookRefusal } from './notifications.js';
export { startCloudProcess, type CloudProcess, type CloudProcessOptions } from './child.js';

/** The embedded lab: the simulated cloud and the namespace compute hosts. */
export * from './cloud/index.js';
export * from './hosts/index.js';
export * from './openstack/index.js';
export * from './catalog/index.js';

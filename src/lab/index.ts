/** The embedded lab: the simulated cloud (and, later, namespace compute hosts). */
export * from './cloud/index.js';

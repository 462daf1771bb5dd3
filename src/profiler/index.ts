/** The profiler: the eleven checkpoints of a run, component costs, and the reports made from them. */
export * from './checkpoints.js';
export * from './profile.js';
export * from './render.js';
export * from './junit.js';
export * from './html.js';
export * from './osprofiler.js';
export * from './service-logs.js';
export * from './testapi.js';
export * from './energy.js';
export * from './cloud-profile.js';
export * from './stats.js';

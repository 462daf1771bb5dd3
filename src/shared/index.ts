/** Cross-component helpers: the error tree, logging, clocks. */
export * from './errors.js';
export * from './log.js';
export * from './clock.js';
export * from './process.js';
export * from './listen.js';
export * from './validation.js';
export * from './url.js';
export * from './express.js';
export * from './fs.js';
export * from './limit.js';
export * from './net.js';

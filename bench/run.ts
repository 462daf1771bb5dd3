/** `npm run bench`: runs the benchmarks and prints one JSON document. */
import { cloudChainBench } from './cloud-chain.js';

const started = new Date().toISOString();
const benches = [await cloudChainBench()];
const mem = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({ started, node: process.version, rss_mib: Math.round(mem.rss / 1048576), heap_used_mib: Math.round(mem.heapUsed / 1048576), benches }, null, 2)}\n`,
);

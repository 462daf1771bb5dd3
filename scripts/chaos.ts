/**
 * npm run chaos: the full fault matrix (test/chaos/matrix.ts), JSON on stdout, progress on stderr; exit 1 when
 * anything was left behind. CHAOS_SEED repeats a run's random instants; with the all-in-one lab up
 * (scripts/openstack-aio up), its process faults run too. Needs root.
 */
import { existsSync } from 'node:fs';
import { runMatrix } from '../test/chaos/matrix.js';

const aio = '/var/lib/doctor-harness/openstack';
const report = await runMatrix({
  reduced: process.env['CHAOS_REDUCED'] === '1',
  ...(process.env['CHAOS_SEED'] ? { seed: Number(process.env['CHAOS_SEED']) } : {}),
  log: (l) => process.stderr.write(`${l}\n`),
  ...(existsSync(`${aio}/doctor.yaml`) ? { openstackConfig: { cloudsYaml: `${aio}/clouds.yaml`, runConfig: `${aio}/doctor.yaml`, labStateDir: `${aio}/hosts` } } : {}),
});
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exitCode = report.leftovers || report.crashes ? 1 : 0;

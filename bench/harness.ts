/**
 * `npm run bench:harness` (root): the harness's own cost. `doctor run` on the embedded lab with every
 * hop of the simulated cloud at zero latency (the cloud runs in a process of its own), BENCH_RUNS
 * times (default 3) at each of BENCH_VMS (default 1,10,25,50,100): the first and last notification
 * (consumer − detection), and where the slowest VM's time went (inspector 1→4, cloud 4→8, consumer
 * 8→10). One run after the other; every run cleans up after itself. BENCH_CONCURRENCY: the inspector's
 * reset-state calls in flight (adaptive, the default, or a number). Prints JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, runFaultManagement } from '../src/orchestrator/index.js';

const counts = (process.env['BENCH_VMS'] ?? '1,10,25,50,100').split(',').map(Number).filter((n) => n >= 1 && n <= 200);
const runs = Number(process.env['BENCH_RUNS'] ?? 3);
/** The inspector's reset-state calls in flight: adaptive (the default) or a number. */
const concurrency = process.env['BENCH_CONCURRENCY'] ?? 'adaptive';
const progress = (m: string) => process.stderr.write(`[bench:harness] ${m}\n`);
const r1 = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 10) / 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:harness needs root (the embedded lab)');
  const work = mkdtempSync(join(tmpdir(), 'doctor-bench-harness-'));
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const vmCount of counts) {
      for (let i = 0; i < runs; i++) {
        const config = loadConfig({
          env: {}, readFile: () => undefined, cwd: work,
          flags: { vmCount, labLatency: 'notify=0,transform=0,evaluate=0,fire=0,deliver=0', inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results'), inspectorConcurrency: concurrency },
        });
        const r = await runFaultManagement(config, { signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers') });
        const slowest = r.profile?.timelines.find((t) => t.vmId === r.profile?.slowest);
        const at = (id: number) => slowest?.checkpoints.find((c) => c.id === id)?.at;
        const span = (a: number, b: number) => (at(a) !== undefined && at(b) !== undefined ? r1(at(b)! - at(a)!) : undefined);
        results.push({
          vms: vmCount, verdict: r.verdict, received: r.notifications?.received, first_ms: r1(r.notifications?.firstMs), last_ms: r1(r.notifications?.lastMs),
          slowest_inspector_1_4_ms: span(1, 4), slowest_cloud_4_8_ms: span(4, 8), slowest_consumer_8_10_ms: span(8, 10),
        });
        progress(JSON.stringify(results.at(-1)));
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const table = counts.map((n) => {
    const of = results.filter((r) => r['vms'] === n && typeof r['last_ms'] === 'number');
    return { vms: n, runs: of.length, first_ms_median: median(of.map((r) => r['first_ms'] as number)), last_ms_median: median(of.map((r) => r['last_ms'] as number)), last_ms_max: Math.max(...of.map((r) => r['last_ms'] as number)) };
  });
  process.stdout.write(`${JSON.stringify({ bench: 'harness', started: new Date().toISOString(), node: process.version, runs, table, runs_detail: results }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:harness failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});

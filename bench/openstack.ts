/**
 * `npm run bench:openstack` (root, after ./scripts/setup --openstack): the real
 * all-in-one lab. Brings it up from nothing in a temporary folder on free
 * ports (timed), measures its memory (PSS of every lab process, and what one
 * more compute adds), runs `doctor run` BENCH_RUNS times (default 3) at each of
 * BENCH_VMS (default 1,10,50), and prints one JSON document with the
 * notification times (first/last, ms). Takes the lab down at the end, whatever
 * happens. Bounded: at most 50 VMs per run, runs one after the other.
 */
import { mkdtempSync, readFileSync, existsSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLabPorts, openstackDown, openstackUp } from '../src/lab/index.js';
import { taggedProcesses } from '../src/lab/openstack/procs.js';
import { loadConfig, runFaultManagement } from '../src/orchestrator/index.js';

const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const vmCounts = (process.env['BENCH_VMS'] ?? '1,10,50').split(',').map(Number).filter((n) => n >= 1 && n <= 50);
const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Number((ms / 1000).toFixed(1)));

/** PSS (MiB) of every process carrying the lab's tag. */
function labPssMiB(stateDir: string): number {
  let kib = 0;
  for (const p of taggedProcesses(stateDir)) {
    try {
      kib += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p.pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return Math.round(kib / 1024);
}

const work = mkdtempSync(join(tmpdir(), 'doctor-bench-aio-'));
chmodSync(work, 0o711);
const stateDir = join(work, 'openstack');
const out: Record<string, unknown> = { started: new Date().toISOString(), runs, vmCounts };
try {
  const lab = { stateDir, ports: await freeLabPorts(), labId: 'bench', progress: (l: string) => process.stderr.write(`${l}\n`) };
  let t = performance.now();
  const state = await openstackUp({ ...lab, computes: 2 });
  out['up_s'] = Number(((performance.now() - t) / 1000).toFixed(1));
  await new Promise((r) => setTimeout(r, 10_000)); // let the services settle before measuring memory
  out['pss_mib_2_computes'] = labPssMiB(stateDir);
  t = performance.now();
  await openstackUp({ ...lab, computes: 3 });
  out['add_compute_s'] = Number(((performance.now() - t) / 1000).toFixed(1));
  await new Promise((r) => setTimeout(r, 10_000));
  out['pss_mib_3_computes'] = labPssMiB(stateDir);

  const results: Array<Record<string, unknown>> = [];
  for (const vmCount of vmCounts) {
    for (let i = 0; i < runs; i++) {
      const config = loadConfig({
        env: { OS_CLIENT_CONFIG_FILE: state.cloudsYaml, OS_CLOUD: 'doctor-openstack' }, configFile: state.runConfig, readFile: read, cwd: work,
        flags: { vmCount, faultDurationS: 2, inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results'), activeTimeoutS: 600 },
      });
      const started = performance.now();
      const r = await runFaultManagement(config, { signal: new AbortController().signal, progress: (l) => process.stderr.write(`  ${l}\n`), ledgerDir: join(work, 'ledgers') });
      results.push({
        vms: vmCount, verdict: r.verdict, reason: r.reason, received: r.notifications?.received,
        detection_ms: r.detection?.detectionMs, first_ms: r.notifications?.firstMs, last_ms: r.notifications?.lastMs,
        wall_s: Number(((performance.now() - started) / 1000).toFixed(1)),
        // What the controller set-up and its restore took (restarting Ceilometer's agent and Aodh's listener).
        controller_setup_s: seconds(r.environment?.controllerSetup?.[0]?.setupMs), controller_restore_s: seconds(r.environment?.controllerSetup?.[0]?.restoreMs),
      });
      process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
    }
  }
  out['runs_detail'] = results;
} finally {
  const t = performance.now();
  await openstackDown({ stateDir });
  out['down_s'] = Number(((performance.now() - t) / 1000).toFixed(1));
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);

/**
 * `npm run bench:openstack` (root, after ./scripts/setup --openstack): the real
 * all-in-one lab. Brings it up from nothing in a temporary folder on free
 * ports (timed), measures its memory (PSS of every lab process, and what one
 * more compute adds), runs `doctor run` BENCH_RUNS times (default 3) at each of
 * BENCH_VMS (default 1,10,50), and prints one JSON document with the
 * notification times (first/last, ms). Takes the lab down at the end, whatever
 * happens. Bounded: at most 50 VMs per run, runs one after the other.
 * BENCH_COMPARE=shortcut (or BENCH_SHORTCUT=1): each repetition runs twice, with
 * and without Doctor's message-bus shortcut, and records the duplicates;
 * BENCH_COMPARE=doctor-inspector: twice, with our inspector and with Doctor's
 * sample inspector (bench/doctor-sample-inspector.py through --inspector-command; BENCH_CONCURRENCY: our
 * inspector's reset-state calls in flight, adaptive by default, or a number; ours traces none of its resets,
 * as Doctor's traces none, unless BENCH_TRACE_RESETS says otherwise); BENCH_COMPARE=doctor-inspector-shortcut: the
 * same with Doctor's message-bus shortcut on both sides (ours: --shortcut; Doctor's: its Notifier on nova.conf's
 * transport URL, as its inspector has done since 2018).
 * Compared runs alternate their order, on a controller set up once beforehand
 * (so no run restarts a service), and the output has each variant's median of
 * the last notification and their ratio.
 */
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLabPorts, openstackDown, openstackUp } from '../src/lab/index.js';
import { pssKiB, taggedProcesses } from '../src/lab/openstack/procs.js';
import { readState } from '../src/lab/index.js';
import { loadConfig, restoreController, runFaultManagement, setUpController, SshSession, type ControllerFileChange, type ControllerLayout } from '../src/orchestrator/index.js';
import { parse as parseYaml } from 'yaml';

const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const since = (from: number, to: number | undefined) => (to === undefined ? undefined : Math.round((to - from) * 10) / 10);
function slowestSpans(r: Awaited<ReturnType<typeof runFaultManagement>>): Record<string, number | undefined> {
  const slowest = r.profile?.timelines.find((t) => t.vmId === r.profile?.slowest);
  const at = (id: number) => slowest?.checkpoints.find((c) => c.id === id)?.at;
  const span = (a: number, b: number) => (at(a) !== undefined && at(b) !== undefined ? since(at(a)!, at(b)) : undefined);
  return { slowest_inspector_1_4_ms: span(1, 4), slowest_cloud_4_8_ms: span(4, 8), slowest_consumer_8_10_ms: span(8, 10) };
}
const compare = process.env['BENCH_COMPARE'] ?? (['1', 'yes', 'true'].includes(process.env['BENCH_SHORTCUT'] ?? '') ? 'shortcut' : '');
const peerInspector = new URL('./doctor-sample-inspector.py', import.meta.url).pathname;
/** BENCH_CONCURRENCY: our inspector's reset-state calls in flight (adaptive, the default, or a number). */
const ours: Record<string, string> = {
  ...(process.env['BENCH_CONCURRENCY'] ? { inspectorConcurrency: process.env['BENCH_CONCURRENCY'] } : {}),
  // Doctor's inspector sends no OSProfiler headers: ours neither (BENCH_TRACE_RESETS to change it), or nova-api
  // would serve each of our resets in ~25 ms more and the comparison would measure the tracing.
  traceResets: process.env['BENCH_TRACE_RESETS'] ?? '0',
};
type Variant = { name: string; flags: Record<string, string | boolean> };
/** The variants compared; `novaConf`: the lab controller's nova.conf (its path: the file holds the broker's password). */
const VARIANTS: Record<string, (novaConf: string) => Variant[]> = {
  '': () => [{ name: 'plain', flags: {} }],
  shortcut: (): Variant[] => [{ name: 'plain', flags: {} }, { name: 'shortcut', flags: { shortcut: true } }],
  'doctor-inspector': (): Variant[] => [{ name: 'ours', flags: ours }, { name: 'doctor', flags: { inspectorCommand: `exec /usr/bin/python3 ${peerInspector} {port}` } }],
  'doctor-inspector-shortcut': (novaConf): Variant[] => [
    { name: 'ours', flags: { ...ours, shortcut: true } },
    { name: 'doctor', flags: { inspectorCommand: `exec /usr/bin/python3 ${peerInspector} {port} ${novaConf}` } },
  ],
};
const variantsFor = VARIANTS[compare];
if (!variantsFor) throw new Error(`BENCH_COMPARE must be one of ${Object.keys(VARIANTS).filter(Boolean).join(', ')} (got ${compare})`);
const compared = compare !== '';
const vmCounts = (process.env['BENCH_VMS'] ?? '1,10,50').split(',').map(Number).filter((n) => n >= 1 && n <= 50);
const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Number((ms / 1000).toFixed(1)));

/** What Doctor's inspector printed in a run (the run logs its output): whether its shortcut ran, and any Python traceback. */
function doctorOutput(resultsDir: string): { shortcut: boolean; tracebacks: number } {
  const dir = join(resultsDir, 'logs');
  const text = existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n') : '';
  return { shortcut: text.includes('shortcut_at'), tracebacks: text.split('Traceback (most recent call last)').length - 1 };
}

/** PSS (MiB) of every process carrying the lab's tag. */
function labPssMiB(stateDir: string): number {
  return Math.round(taggedProcesses(stateDir).reduce((kib, p) => kib + pssKiB(p.pid), 0) / 1024);
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
  // With variants compared, the controller is set up once (as an installer leaves it): no run restarts a service.
  const hosts = readState(state.hostsDir)!;
  const node = { target: { host: state.address, username: 'root' }, auth: { privateKeyPath: hosts.harnessKey, knownHostsPath: hosts.knownHosts } };
  const layout = parseYaml(readFileSync(join(stateDir, 'controller-layout.yaml'), 'utf8')) as ControllerLayout;
  // The lab's controller shares this machine's files: its nova.conf is read where the layout says.
  const variants = variantsFor(layout.novaConf ?? '/etc/nova/nova.conf');
  let setUp: ControllerFileChange[] = [];
  if (compared) {
    const ssh = await SshSession.connect(node.target, node.auth);
    try {
      setUp = (await setUpController(ssh, layout, 'bench', () => {})).changed;
    } finally {
      ssh.close();
    }
  }
  const order = (i: number) => (i % 2 ? [...variants].reverse() : variants);
  for (const vmCount of vmCounts) {
    for (let i = 0; i < runs; i++) for (const variant of order(i)) {
      const config = loadConfig({
        env: { OS_CLIENT_CONFIG_FILE: state.cloudsYaml, OS_CLOUD: 'doctor-openstack' }, configFile: state.runConfig, readFile: read, cwd: work,
        flags: { vmCount, faultDurationS: 2, inspectorPort: 0, consumerPort: 0, resultsDir: join(work, 'results'), activeTimeoutS: 600, ...variant.flags },
      });
      const started = performance.now();
      const r = await runFaultManagement(config, { signal: new AbortController().signal, progress: (l) => process.stderr.write(`  ${l}\n`), ledgerDir: join(work, 'ledgers') });
      results.push({
        vms: vmCount, ...(compared ? { variant: variant.name } : {}), verdict: r.verdict, reason: r.reason, received: r.notifications?.received,
        duplicated_alarms: r.notifications?.perVm.filter((v) => v.duplicates > 0).length, duplicate_posts: r.notifications?.perVm.reduce((n, v) => n + v.duplicates, 0),
        detection_ms: r.detection?.detectionMs, first_ms: r.notifications?.firstMs, last_ms: r.notifications?.lastMs,
        wall_s: Number(((performance.now() - started) / 1000).toFixed(1)),
        // What the controller set-up and its restore took (restarting Ceilometer's agent and Aodh's listener).
        controller_setup_s: seconds(r.environment?.controllerSetup?.[0]?.setupMs), controller_restore_s: seconds(r.environment?.controllerSetup?.[0]?.restoreMs),
        // Where the slowest VM's time went (inspector 1→4, cloud 4→8, consumer 8→10), and how our inspector paced its resets.
        ...slowestSpans(r),
        ...(r.inspector ? { inspector: { concurrency: r.inspector.concurrency, last_reset_ms: since(r.inspector.receivedAt, r.inspector.vmErrorLastAt), done_ms: since(r.inspector.receivedAt, r.inspector.doneAt) } } : {}),
        // Ours publishes through the run (counted in r.shortcut); Doctor's says in its output line, which the run logs.
        ...(r.shortcut ? { shortcut_published: r.shortcut.published, shortcut_failed: r.shortcut.failed } : {}),
        ...(variant.name === 'doctor' ? { doctor_output: doctorOutput(config.resultsDir) } : {}),
      });
      process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
    }
  }
  out['runs_detail'] = results;
  if (compared) {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    const last = (n: number, v: string) => median(results.filter((r) => r['vms'] === n && r['variant'] === v && typeof r['last_ms'] === 'number').map((r) => r['last_ms'] as number));
    out['last_ms_median'] = Object.fromEntries(vmCounts.map((n) => [n, Object.fromEntries(variants.map((v) => [v.name, last(n, v.name)]))]));
    // The first variant's median over the second's (ours / Doctor's).
    out['last_ms_ratio'] = Object.fromEntries(vmCounts.map((n) => {
      const [a, b] = [last(n, variants[0]!.name), last(n, variants[1]!.name)];
      return [n, a !== undefined && b ? Number((a / b).toFixed(2)) : undefined];
    }));
    const ssh = await SshSession.connect(node.target, node.auth);
    try {
      await restoreController(ssh, setUp, layout.restart);
    } finally {
      ssh.close();
    }
  }
} finally {
  const t = performance.now();
  await openstackDown({ stateDir });
  out['down_s'] = Number(((performance.now() - t) / 1000).toFixed(1));
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);

/**
 * `npm run bench:inspector`: the inspector's own time, ours beside Doctor's sample inspector, on the
 * simulated cloud at zero latency. The cloud runs in a process of its own (`doctor lab cloud`), so
 * neither inspector shares an event loop or a core's time with it. For each VM count of BENCH_VMS
 * (default 1,10,100,500,1000), BENCH_RUNS times (default 3), alternating which goes first: a fresh
 * inspector process (ours: `doctor inspector`; Doctor's: bench/doctor-sample-inspector.py on Debian's
 * python3), which caches the servers by host at start; BENCH_EVENTS `PUT /events` to it (compute.host.down,
 * default 2: the first to a cold process, the next ones after the VMs went back to active), each timed from
 * send to answer (it answers once the host is forced down and every VM reset), with the inspector's CPU for
 * that event (/proc) and, for ours, where the time went (GET /handled: VMs found, host forced down, last VM
 * reset, done); then it is stopped (it clears force-down) and every VM is put back to
 * active. Counts above 1,000 show Nova's paging (the cloud's page is 1,000). BENCH_NODE_FLAGS are given
 * to our inspector's node, BENCH_CLOUD_FLAGS to the cloud's (a CPU profile); BENCH_CONCURRENCY sets our inspector's
 * reset-state calls in flight (adaptive, the default, or a number). Prints JSON.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadCredentials, OpenStackClient } from '../src/openstack/index.js';
import { freePort, mapLimit } from '../src/shared/index.js';
import { cpuMs } from './proc.js';

const counts = (process.env['BENCH_VMS'] ?? '1,10,100,500,1000').split(',').map(Number).filter((n) => n >= 1 && n <= 5_000);
const runs = Number(process.env['BENCH_RUNS'] ?? 3);
/** Events per inspector process (default 2): the first meets a cold process, later ones show it warm. */
const events = Math.max(1, Math.min(20, Number(process.env['BENCH_EVENTS'] ?? 2)));
const phases = Array.from({ length: events }, (_, i) => (i === 0 ? 'first' : i === 1 ? 'second' : `#${i + 1}`));
const doctor = new URL('../bin/doctor.js', import.meta.url).pathname;
const peerScript = new URL('./doctor-sample-inspector.py', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
/** e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof": where our inspector's time goes. */
const nodeFlags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const cloudFlags = (process.env['BENCH_CLOUD_FLAGS'] ?? '').split(' ').filter(Boolean);
const progress = (m: string) => process.stderr.write(`[bench:inspector] ${m}\n`);
const HOST = 'compute-1';
/** Our inspector's reset-state calls in flight: adaptive (the default) or a number. */
const concurrency = process.env['BENCH_CONCURRENCY'] ?? 'adaptive';

/** Resolves with the first stdout line `match` accepts; rejects if the process ends first. */
function lineOf(child: ResultPromise, match: (l: string) => boolean, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      if (match(l)) {
        rl.close();
        resolve(l);
      }
    });
    child.then(
      (r) => reject(new Error(`${what} ended before it was ready: ${String(r.stderr).slice(-500)}`)),
      (e: Error) => reject(e),
    );
  });
}

/** Our inspector's last handling from GET /handled, as ms from the event's arrival. */
async function stages(port: number): Promise<Record<string, number>> {
  const handled = (await (await fetch(`http://127.0.0.1:${port}/handled`)).json()) as Array<Record<string, number | undefined>>;
  const h = handled.at(-1);
  if (!h) return {};
  const at = (k: string) => (h[k] === undefined ? undefined : Math.round((h[k]! - h['receivedAt']!) * 10) / 10);
  const out: Record<string, number> = {};
  for (const [name, key] of [['found_ms', 'foundAffectedAt'], ['forced_ms', 'markedDownAt'], ['last_reset_ms', 'vmErrorLastAt'], ['done_ms', 'doneAt']] as const) {
    const v = at(key);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: Doctor's inspector runs on Debian's python3 (./scripts/setup --openstack installs it)`);
  const work = mkdtempSync(join(tmpdir(), 'doctor-bench-inspector-'));
  const cloud = execa(process.execPath, [...cloudFlags, doctor, 'lab', 'cloud', '--port', '0', '--build-delay', '0', '--hosts', `${HOST}=198.18.0.2,compute-2=198.18.0.6`, '--state-dir', work],
    { reject: false, stdin: 'ignore', buffer: false, stderr: 'inherit' });
  const running: ResultPromise[] = [cloud];
  try {
    await lineOf(cloud, (l) => l.includes('listening on'), 'the simulated cloud');
    const env = { OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'doctor-lab' };
    const credentials = loadCredentials(env, (p) => readFileSync(p, 'utf8'));
    const client = OpenStackClient.create({ credentials });
    const token = await client.session.token();
    const max = Math.max(...counts);
    await client.compute.quotas.update(token.projectId, { instances: max, cores: max, ram: max * 64 });
    const image = await client.image.create({ name: 'bench' });
    await client.image.upload(image.id, Buffer.alloc(1024));
    const flavor = await client.compute.flavors.create({ name: 'bench', ram: 64, vcpus: 1, disk: 1 });
    const peerEnv = {
      OS_AUTH_URL: credentials.authUrl, OS_USERNAME: credentials.username ?? 'admin', OS_PASSWORD: credentials.password ?? '',
      OS_PROJECT_NAME: credentials.projectName ?? 'admin', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default',
    };
    let have = 0;
    const results: Array<Record<string, unknown>> = [];
    for (const n of [...counts].sort((a, b) => a - b)) {
      progress(`booting VMs ${have + 1}-${n}`);
      await mapLimit(Array.from({ length: n - have }, (_, i) => have + i), 16, (i) =>
        client.compute.servers.create({ name: `vm${i}`, imageRef: image.id, flavorRef: flavor.id, networks: 'none', availabilityZone: `nova:${HOST}` }).then(() => undefined));
      have = n;
      for (;;) {
        const list = await client.compute.servers.listDetail({ allTenants: true, host: HOST });
        if (list.length === n && list.every((s) => s.status === 'ACTIVE')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let r = 0; r < runs; r++) {
        const order = r % 2 ? ['doctor', 'ours'] : ['ours', 'doctor'];
        for (const who of order) {
          const port = await freePort();
          const child = who === 'ours'
            ? execa(process.execPath, [...nodeFlags, doctor, 'inspector', '--port', String(port), '--concurrency', concurrency], { env, reject: false, stdin: 'ignore', buffer: false })
            : execa(PYTHON, [peerScript, String(port)], { env: peerEnv, extendEnv: true, reject: false, stdin: 'ignore', buffer: false });
          running.push(child);
          const ready = await lineOf(child, (l) => l.includes('listening'), `${who} inspector`);
          const rl = createInterface({ input: child.stdout! });
          rl.on('line', () => {}); // read its output, so a full pipe never blocks it
          // BENCH_EVENTS per process: the first meets a cold process (as a first failure does), the next a
          // process that has handled one (its code compiled and its connections open).
          for (const phase of phases) {
            const event = [{ id: 'bench', time: new Date().toISOString(), type: 'compute.host.down', details: { hostname: HOST, status: 'down', monitor: 'monitor_sample', monitor_event_id: `bench-${r}-${phase}` } }];
            const cpu0 = cpuMs(child.pid!);
            const cloudCpu0 = cpuMs(cloud.pid!);
            const t0 = performance.now();
            const mono0 = process.hrtime.bigint() / 1000n;
            const res = await fetch(`http://127.0.0.1:${port}/events`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
            await res.text();
            const ms = performance.now() - t0;
            const mono1 = process.hrtime.bigint() / 1000n;
            const cpu = cpuMs(child.pid!) - cpu0;
            const cloudCpu = cpuMs(cloud.pid!) - cloudCpu0;
            // Every VM on the host really is in error now, and the host forced down.
            const listed = await client.compute.servers.listDetail({ allTenants: true, host: HOST });
            const errored = listed.filter((s) => s.status === 'ERROR').length;
            const forced = (await client.compute.services.list({ binary: 'nova-compute' })).find((s) => s.host === HOST)?.forcedDown;
            // Ours says where its time went: received → VMs known → last VM reset → done (the check against Nova's list after the resets).
            const split = who === 'ours' ? await stages(port) : {};
            results.push({ vms: n, inspector: who, event: phase, status: res.status, event_ms: Math.round(ms * 10) / 10, cpu_ms: cpu, cloud_cpu_ms: cloudCpu, vms_in_error: errored, forced_down: forced, ...split,
              // CLOCK_MONOTONIC in µs, the clock of a V8 CPU profile's timestamps: the event's window in one.
              window_us: [Number(mono0), Number(mono1)], ...(who === 'doctor' ? { cached: JSON.parse(ready)['cached'] } : {}) });
            progress(JSON.stringify(results.at(-1)));
            await mapLimit(listed, 32, (s) => client.compute.servers.resetState(s.id, 'active'));
          }
          child.kill('SIGTERM');
          await child;
          rl.close();
        }
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    const table = counts.flatMap((n) => phases.map((phase) => {
      const of = (who: string) => results.filter((r) => r['vms'] === n && r['inspector'] === who && r['event'] === phase);
      const ours = median(of('ours').map((r) => r['event_ms'] as number));
      const theirs = median(of('doctor').map((r) => r['event_ms'] as number));
      return { vms: n, event: phase, ours_ms_median: ours, doctor_ms_median: theirs, ratio: Math.round((ours / theirs) * 100) / 100, ours_cpu_ms_median: median(of('ours').map((r) => r['cpu_ms'] as number)), doctor_cpu_ms_median: median(of('doctor').map((r) => r['cpu_ms'] as number)) };
    }));
    client.close();
    process.stdout.write(`${JSON.stringify({ bench: 'inspector', started: new Date().toISOString(), node: process.version, runs, concurrency, table, runs_detail: results }, null, 2)}\n`);
  } finally {
    // SIGTERM first: the cloud stops cleanly (and writes a CPU profile when asked to); SIGKILL what lingers.
    for (const c of running) c.kill('SIGTERM');
    const lingering = setTimeout(() => running.forEach((c) => c.kill('SIGKILL')), 3_000);
    await Promise.all(running.map((c) => c.catch(() => undefined)));
    clearTimeout(lingering);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:inspector failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});

/**
 * `npm run bench:detect` (root): how fast and how steady the ICMP monitor is on
 * the embedded lab, for the Doctor profile and the fast profile.
 *
 *  - detection: K link-down faults injected over SSH (1 s each); latency =
 *    monitor detection − the link-down instant the fault script logged (one
 *    kernel clock: lab hosts are namespaces of this machine).
 *  - false positives: a fault-free soak with random packet loss on each link
 *    (iptables statistic DROP inside the host namespace), both profiles at once,
 *    one per host.
 *
 * Environment: BENCH_FAULTS (default 50 per profile), BENCH_SOAK_S (default 600),
 * BENCH_LOSS (default 0.01). Prints JSON; everything it creates is removed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, type LabHostState } from '../src/lab/index.js';
import { DOCTOR_PROFILE, FAST_PROFILE, Monitor, openIcmp, type HostDownEvent, type HostUpEvent, type ProbeProfile } from '../src/monitor/index.js';
import { fetchFaultLog, injectFault, type SshAuth } from '../src/orchestrator/index.js';

const FAULTS = Number(process.env.BENCH_FAULTS ?? 50);
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 600);
const LOSS = Number(process.env.BENCH_LOSS ?? 0.01);
const PROFILES: Record<string, ProbeProfile> = { doctor: DOCTOR_PROFILE, fast: FAST_PROFILE };

const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
const r1 = (n: number) => Math.round(n * 10) / 10;
const progress = (msg: string) => process.stderr.write(`[bench:detect] ${msg}\n`);

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: r1(s[0] ?? NaN), p50: r1(q(s, 0.5)), p95: r1(q(s, 0.95)), p99: r1(q(s, 0.99)), max: r1(s.at(-1) ?? NaN), mean: r1(s.reduce((a, b) => a + b, 0) / (s.length || 1)) };
}

async function detection(name: string, profile: ProbeProfile, hosts: LabHostState[], auth: SshAuth) {
  const monitor = new Monitor({ hosts: hosts.map((h) => ({ name: h.name, ip: h.hostIp })), transport: await openIcmp(process.env), ...profile });
  const downs: HostDownEvent[] = [];
  const ups: HostUpEvent[] = [];
  monitor.on('down', (e: HostDownEvent) => downs.push(e));
  monitor.on('up', (e: HostUpEvent) => ups.push(e));
  await monitor.start();
  const latencies: number[] = [];
  let missed = 0;
  try {
    await monitor.ready();
    for (let i = 0; i < FAULTS; i++) {
      const host = hosts[i % hosts.length]!;
      const seenDowns = downs.length;
      const seenUps = ups.length;
      // The previous recovery was seen at a probe tick; without this the next fault would start at
      // a fixed phase of the probe cadence, and real faults are not synchronised with probes.
      await new Promise((r) => setTimeout(r, Math.random() * 2 * profile.intervalMs));
      const fault = await injectFault({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, auth);
      const log = await fetchFaultLog(fault, { host: host.hostIp }, auth, Date.now() + 30_000);
      // The link is back: wait (bounded) for the monitor to have seen it back too.
      const deadline = Date.now() + 5_000;
      while (!ups.slice(seenUps).some((u) => u.host === host.name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const down = downs.slice(seenDowns).find((d) => d.host === host.name);
      if (!down || log.downAt === undefined) missed += 1;
      else latencies.push(down.detectedAt - log.downAt);
      if ((i + 1) % 5 === 0) progress(`${name}: ${i + 1}/${FAULTS} faults`);
    }
  } finally {
    monitor.stop();
  }
  return { latencies, missed };
}

function dropRule(host: LabHostState, action: '-A' | '-D'): void {
  execFileSync('ip', ['netns', 'exec', host.namespace, 'iptables', action, 'INPUT', '-p', 'icmp', '-m', 'statistic', '--mode', 'random', '--probability', String(LOSS), '-j', 'DROP']);
}

async function soak(hosts: LabHostState[]) {
  const pairs = Object.entries(PROFILES).map(([name, profile], i) => ({ name, profile, host: hosts[i]! }));
  const monitors = await Promise.all(
    pairs.map(async (p) => {
      const m = new Monitor({ hosts: [{ name: p.host.name, ip: p.host.hostIp }], transport: await openIcmp(process.env), ...p.profile });
      const downs: HostDownEvent[] = [];
      m.on('down', (e: HostDownEvent) => downs.push(e));
      return { ...p, m, downs };
    }),
  );
  for (const x of monitors) await x.m.start();
  try {
    await Promise.all(monitors.map((x) => x.m.ready()));
    for (const x of monitors) dropRule(x.host, '-A');
    const started = Date.now();
    try {
      while (Date.now() - started < SOAK_S * 1000) {
        await new Promise((r) => setTimeout(r, Math.min(30_000, SOAK_S * 1000 - (Date.now() - started))));
        progress(`soak: ${Math.round((Date.now() - started) / 1000)}/${SOAK_S} s, false positives ${monitors.map((x) => `${x.name}=${x.downs.length}`).join(' ')}`);
      }
    } finally {
      for (const x of monitors) dropRule(x.host, '-D');
    }
  } finally {
    for (const x of monitors) x.m.stop();
  }
  return Object.fromEntries(
    monitors.map((x) => {
      const s = x.m.states()[0]!;
      return [x.name, { seconds: SOAK_S, loss_probability: LOSS, probes: s.sent, unanswered: s.unanswered, counted_lost: s.losses, observed_loss: Math.round((s.unanswered / Math.max(1, s.sent)) * 10000) / 10000, false_positives: x.downs.length, false_positives_per_minute: r1((x.downs.length / SOAK_S) * 60) }];
    }),
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:detect needs root (network namespaces, raw ICMP, iptables)');
  const started = new Date().toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'doctor-bench-detect-'));
  const stateDir = join(dir, 'lab');
  try {
    progress('bringing up 2 lab hosts');
    const state = await labUp({ stateDir, labId: `b${Math.floor(Math.random() * 36 ** 3).toString(36)}`, hosts: 2 });
    const auth: SshAuth = { privateKeyPath: state.harnessKey, knownHostsPath: state.knownHosts };
    const results: Record<string, unknown> = {};
    for (const [name, profile] of Object.entries(PROFILES)) {
      progress(`${name}: ${FAULTS} faults`);
      const { latencies, missed } = await detection(name, profile, state.hosts, auth);
      results[name] = { profile, faults: FAULTS, missed, detection_ms: stats(latencies) };
    }
    progress(`soak: ${SOAK_S} s at ${LOSS * 100}% loss, both profiles at once`);
    const soaks = await soak(state.hosts);
    for (const [name, s] of Object.entries(soaks)) (results[name] as Record<string, unknown>)['soak'] = s;
    process.stdout.write(`${JSON.stringify({ bench: 'detect', started, finished: new Date().toISOString(), node: process.version, faults_per_profile: FAULTS, results }, null, 2)}\n`);
  } finally {
    await labDown({ stateDir });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:detect failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});

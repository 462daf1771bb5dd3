/**
 * `npm run bench:monitor` (root): what `doctor monitor` costs at scale. One lab
 * host answers every address (its namespace holds local routes for whole /24s:
 * the kernel replies for each), and `doctor monitor` probes BENCH_HOSTS of them
 * (default 100,1000,2000,5000) at BENCH_INTERVAL ms (default 100: 10 Hz), one
 * fresh process per count, BENCH_RUNS times each (default 1). After a warm-up of
 * BENCH_WARMUP_S (default 5) it samples the process for BENCH_S seconds (default
 * 30): CPU from /proc/PID/stat (user + system, % of one core), RSS each second
 * (max) and at the end, and the process's own stop summary (probes, replies,
 * losses, how late probes left against their schedule). BENCH_DOCTOR may name
 * another build's bin/doctor.js (a side-by-side comparison); BENCH_NODE_FLAGS are given to its node
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": where the monitor's time goes). Prints JSON.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aliasAddresses, labDown, labUp } from '../src/lab/index.js';
import { cpuSplitMs, rssMiB } from './proc.js';

const counts = (process.env['BENCH_HOSTS'] ?? '100,1000,2000,5000').split(',').map(Number).filter((n) => n >= 1 && n <= 20_000);
const runs = Number(process.env['BENCH_RUNS'] ?? 1);
const warmupS = Number(process.env['BENCH_WARMUP_S'] ?? 5);
const sampleS = Number(process.env['BENCH_S'] ?? 30);
const interval = Number(process.env['BENCH_INTERVAL'] ?? 100);
const doctor = process.env['BENCH_DOCTOR'] ?? new URL('../bin/doctor.js', import.meta.url).pathname;
const nodeFlags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const progress = (m: string) => process.stderr.write(`[bench:monitor] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function one(addresses: string[], inspectorUrl: string, stateDir: string, labId: string) {
  const child = execa(process.execPath, [...nodeFlags, doctor, 'monitor', ...addresses.flatMap((ip, i) => ['--host', `h${i + 1}=${ip}`]),
    '--inspector', inspectorUrl, '--interval', String(interval), '--timeout', String(interval), '--json', '--lab-id', labId, '--state-dir', stateDir], { reject: false, buffer: true, stdin: 'ignore' });
  const pid = child.pid!;
  try {
    await sleep(warmupS * 1000);
    const cpu0 = cpuSplitMs(pid);
    const t0 = performance.now();
    let rssMax = 0;
    for (let s = 0; s < sampleS; s++) {
      await sleep(1000);
      rssMax = Math.max(rssMax, rssMiB(pid));
    }
    const cpu1 = cpuSplitMs(pid);
    const wall = (performance.now() - t0) / 1000;
    const rssEnd = rssMiB(pid);
    const pct = (ms: number) => Math.round((ms / 1000 / wall) * 1000) / 10;
    child.kill('SIGTERM');
    const r = await child;
    const lines = String(r.stdout).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const stopped = lines.find((l) => l['event'] === 'stopped');
    return {
      hosts: addresses.length, interval_ms: interval, seconds: Math.round(wall * 10) / 10,
      cpu_percent_of_one_core: pct(cpu1.user + cpu1.system - cpu0.user - cpu0.system),
      // System time holds the kernel's ICMP path (the echo replies are made in softirq on the sender's CPU).
      user_percent: pct(cpu1.user - cpu0.user), system_percent: pct(cpu1.system - cpu0.system),
      rss_mib_max: rssMax, rss_mib_end: rssEnd,
      downs: lines.filter((l) => l['event'] === 'down').length,
      ...(stopped ? { sent: stopped['sent'], replies: stopped['replies'], losses: stopped['losses'], schedule: stopped['schedule'] } : {}),
    };
  } finally {
    child.kill('SIGKILL');
    await child.catch(() => undefined);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:monitor needs root (a network namespace, raw ICMP)');
  const work = mkdtempSync(join(tmpdir(), 'doctor-bench-monitor-'));
  const stateDir = join(work, 'lab');
  const labId = `m${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const inspectorUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const out: Record<string, unknown> = { bench: 'monitor', started: new Date().toISOString(), node: process.version, doctor, warmup_s: warmupS };
  try {
    const max = Math.max(...counts);
    progress(`bringing up a lab host answering ${max} addresses`);
    const state = await labUp({ stateDir, labId, hosts: 1, aliasesPerHost: max });
    const all = aliasAddresses(state.hosts[0]!.aliases!);
    const results = [];
    for (let r = 0; r < runs; r++) {
      for (const n of counts) {
        progress(`run ${r + 1}/${runs}: ${n} hosts for ${warmupS} + ${sampleS} s`);
        results.push(await one(all.slice(0, n), inspectorUrl, stateDir, labId));
        progress(JSON.stringify(results.at(-1)));
      }
    }
    out['results'] = results;
  } finally {
    await labDown({ stateDir });
    await new Promise<void>((r) => sink.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:monitor failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});

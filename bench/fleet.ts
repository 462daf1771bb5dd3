/**
 * `npm run bench:fleet` (root): what a monitor fleet on etcd does with many hosts. Debian's etcd on
 * loopback, BENCH_AGENTS `doctor monitor --join` processes (default 3) over BENCH_HOSTS addresses of
 * one lab host (default 1000) at the doctor profile (10 Hz), for each of BENCH_REPLICAS (default 1,3):
 *
 * - cold start: from spawning the agents until every one computed its share with all members;
 * - a mass failure: BENCH_FAIL addresses (default 200) dropped at once (one iptables-restore inside the
 *   lab host's namespace); events that reached the inspector, duplicates, first and last after the
 *   drop, and events per second over the burst (first to last);
 * - rebalance on leave (SIGTERM: the lease is revoked), join (the same id started again) and crash
 *   (SIGKILL: etcd drops the lease after the TTL, BENCH_TTL s, default 5): from the signal or the spawn
 *   until every live agent's share was computed with the new members (the agents' own `assignment` times).
 *
 * Every process is stopped by PID, the lab and etcd removed. BENCH_DOCTOR may name another build's
 * bin/doctor.js, BENCH_NODE_ARGS node flags for the agents. Prints JSON.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { aliasAddresses, labDown, labUp } from '../src/lab/index.js';
import { startEtcd } from '../test/helpers/etcd.js';

const hostsN = Number(process.env['BENCH_HOSTS'] ?? 1000);
const agentsN = Number(process.env['BENCH_AGENTS'] ?? 3);
const failN = Math.min(Number(process.env['BENCH_FAIL'] ?? 200), hostsN);
const ttlS = Number(process.env['BENCH_TTL'] ?? 5);
const replicaModes = (process.env['BENCH_REPLICAS'] ?? '1,3').split(',').map(Number).filter((r) => r >= 1 && r <= agentsN);
const doctor = process.env['BENCH_DOCTOR'] ?? new URL('../bin/doctor.js', import.meta.url).pathname;
/** Node flags for the agents, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (a profile per agent that exits by SIGTERM). */
const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
const progress = (m: string) => process.stderr.write(`[bench:fleet] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Line = Record<string, unknown> & { event: string };
interface Agent { id: string; child: ChildProcess; lines: Line[] }

async function until<T>(what: string, ms: number, f: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:fleet needs root (a network namespace, raw ICMP, iptables)');
  if (agentsN < 2 || hostsN < 1 || hostsN > 5000) throw new Error('BENCH_AGENTS must be at least 2 and BENCH_HOSTS 1-5000');
  const work = mkdtempSync(join(tmpdir(), 'doctor-bench-fleet-'));
  const stateDir = join(work, 'lab');
  const labId = `f${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
  const received: Array<{ at: number; host: string; agents: string[] }> = [];
  let requests = 0;
  const sink = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        // One request may carry several events: the agents batch what commits at once.
        const at = Date.now();
        for (const e of JSON.parse(body) as Array<{ details: { hostname: string; agents: string[] } }>) received.push({ at, host: e.details.hostname, agents: e.details.agents });
        requests += 1;
      } catch {
        /* not an event */
      }
      res.end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const inspectorUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const etcd = await startEtcd();
  const every: Agent[] = [];
  const out: Record<string, unknown> = { bench: 'fleet', started: new Date().toISOString(), node: process.version, doctor, hosts: hostsN, agents: agentsN, ttl_s: ttlS, profile: 'doctor (100 ms, 100 ms, k=1)' };
  let namespace = '';
  // The rules live in the lab host's namespace: they go with it.
  const dropRules = (ips: string[], on: boolean) => {
    const rules = ips.map((ip) => `-${on ? 'I' : 'D'} INPUT -d ${ip}/32 -p icmp -j DROP`).join('\n');
    execFileSync('ip', ['netns', 'exec', namespace, 'iptables-restore', '--noflush'], { input: `*filter\n${rules}\nCOMMIT\n` });
  };
  try {
    progress(`bringing up a lab host answering ${hostsN} addresses`);
    const state = await labUp({ stateDir, labId, hosts: 1, aliasesPerHost: hostsN });
    namespace = state.hosts[0]!.namespace;
    const ips = aliasAddresses(state.hosts[0]!.aliases!);
    const names = ips.map((_, i) => `h${i + 1}`);
    writeFileSync(join(work, 'hosts'), names.map((n, i) => `${n}=${ips[i]}`).join('\n') + '\n');

    const start = (id: string, group: string, replicas: number): Agent => {
      const child = spawn(process.execPath, [...nodeArgs, doctor, 'monitor', '--join', etcd.url, '--group', group, '--agent-id', id, '--replicas', String(replicas), '--ttl', String(ttlS),
        '--hosts-file', join(work, 'hosts'), '--inspector', inspectorUrl, '--lab-id', labId, '--state-dir', stateDir, '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
      child.on('error', (err) => progress(`agent ${id}: ${err.message}`));
      const agent: Agent = { id, child, lines: [] };
      createInterface({ input: child.stdout! }).on('line', (l) => {
        try {
          agent.lines.push(JSON.parse(l) as Line);
        } catch {
          /* a text line */
        }
      });
      every.push(agent);
      return agent;
    };
    const stop = async (a: Agent, signal: NodeJS.Signals) => {
      if (a.child.exitCode !== null || a.child.signalCode !== null) return;
      const gone = new Promise((r) => a.child.once('exit', r));
      a.child.kill(signal);
      await gone;
    };
    /** When every agent of `live` last computed its share with exactly those members (undefined: not yet). */
    const settledAt = (live: Agent[], replicas: number): number | undefined => {
      const want = live.map((a) => a.id).sort().join();
      const latest = live.map((a) => a.lines.filter((l) => l.event === 'assignment').at(-1));
      if (latest.some((l) => !l || (l['members'] as string[]).join() !== want)) return undefined;
      const owned = latest.reduce((n, l) => n + (l!['hosts'] as string[]).length, 0);
      if (owned !== hostsN * Math.min(replicas, live.length)) return undefined;
      return Math.max(...latest.map((l) => l!['at'] as number));
    };

    const modes = [];
    for (const replicas of replicaModes) {
      const group = `bench-r${replicas}`;
      progress(`replicas ${replicas}: starting ${agentsN} agents over ${hostsN} hosts`);
      const spawnedAt = Date.now();
      const agents = Array.from({ length: agentsN }, (_, i) => start(`a${i + 1}`, group, replicas));
      const cold = await until('the agents settling', 30_000, () => settledAt(agents, replicas)) - spawnedAt;
      await sleep(3_000);
      const falseAlarms = received.length;

      progress(`replicas ${replicas}: ${failN} hosts failing at once`);
      const before = received.length;
      const requestsBefore = requests;
      const failing = ips.slice(0, failN);
      const droppedAt = Date.now();
      dropRules(failing, true);
      const failed = new Set(names.slice(0, failN));
      await until(`events for ${failN} hosts`, 30_000, () => (new Set(received.slice(before).map((e) => e.host)).size >= failN ? true : undefined)).catch((err: Error) => progress(err.message));
      await sleep(2_000);
      const burst = received.slice(before);
      dropRules(failing, false);
      const hosts = new Set(burst.map((e) => e.host));
      const first = Math.min(...burst.map((e) => e.at));
      const last = Math.max(...burst.map((e) => e.at));
      // Where each raised event's time went, from the committing agent's own lines: detection (drop →
      // the monitor's verdict), the fleet (verdict → report sent: votes, the commit) and delivery.
      const reports = agents.flatMap((a) => a.lines.filter((l) => l.event === 'report' && l['at'] === undefined && (l['sentAt'] as number) >= droppedAt));
      const downs = new Map(agents.flatMap((a) => a.lines.filter((l) => l.event === 'down' && (l['detectedAt'] as number) >= droppedAt - 1_000).map((l) => [l['eventId'] as string, l] as const)));
      const parts = reports.map((r) => ({ detected: downs.get(r['eventId'] as string)?.['detectedAt'] as number | undefined, sent: r['sentAt'] as number, answered: r['answeredAt'] as number }))
        .filter((p): p is { detected: number; sent: number; answered: number } => p.detected !== undefined);
      const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
      const p100 = (xs: number[]) => Math.max(...xs);
      const split = (f: (p: { detected: number; sent: number; answered: number }) => number) => ({ p50: Math.round(p50(parts.map(f)) ?? NaN), max: Math.round(p100(parts.map(f))) });
      const failure = {
        where_ms: { detection: split((p) => p.detected - droppedAt), fleet: split((p) => p.sent - p.detected), delivery: split((p) => p.answered - p.sent) },
        failed: failN, events: burst.length, requests: requests - requestsBefore, hosts_raised: [...hosts].filter((h) => failed.has(h)).length,
        duplicates: burst.length - hosts.size, other_hosts: [...hosts].filter((h) => !failed.has(h)).length,
        first_ms: first - droppedAt, last_ms: last - droppedAt,
        events_per_s: last > first ? Math.round((burst.length / ((last - first) / 1000)) * 10) / 10 : null,
        agents_per_event_min: Math.min(...burst.map((e) => e.agents.length)),
      };
      progress(JSON.stringify(failure));
      await sleep(3_000);

      const rebalance: Record<string, number> = {};
      const victim = agents.at(-1)!;
      const rest = agents.slice(0, -1);
      let t0 = Date.now();
      await stop(victim, 'SIGTERM');
      rebalance['leave_sigterm_ms'] = (await until('the others taking a leaver\'s hosts', 30_000, () => settledAt(rest, replicas))) - t0;
      await sleep(2_000);
      t0 = Date.now();
      const back = start(victim.id, group, replicas);
      const all = [...rest, back];
      rebalance['join_ms'] = (await until('a joiner getting its share', 30_000, () => settledAt(all, replicas))) - t0;
      await sleep(3_000);
      t0 = Date.now();
      await stop(back, 'SIGKILL');
      rebalance['crash_sigkill_ms'] = (await until('the others taking a dead agent\'s hosts', 30_000, () => settledAt(rest, replicas))) - t0;
      progress(JSON.stringify(rebalance));
      await Promise.all(rest.map((a) => stop(a, 'SIGTERM')));
      modes.push({ replicas, cold_start_ms: cold, false_alarms_before_failure: falseAlarms, mass_failure: failure, rebalance });
      received.length = 0;
    }
    out['results'] = modes;
  } finally {
    await Promise.all(every.map((a) => (a.child.exitCode === null && a.child.signalCode === null ? new Promise((r) => { a.child.once('exit', r); a.child.kill('SIGKILL'); }) : undefined)));
    await labDown({ stateDir });
    await etcd.remove();
    await new Promise<void>((r) => sink.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:fleet failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { FleetAgent } from '../fleet/index.js';
import { ConfigError, createLogger } from '../shared/index.js';
import { isLabAddress, labRouteGuard, readState } from '../lab/hosts/index.js';
import {
  batchedReports, DOCTOR_PROFILE, FAST_PROFILE, InspectorReporter, Monitor, openIcmp,
  type EventShape, type HostDownEvent, type HostUpEvent, type MonitoredHost,
} from '../monitor/index.js';
import type { Hypervisor } from '../openstack/index.js';
import { IPV4, labStateDir, parseHostFlags, readText, untilSignal } from './common.js';

export interface MonitorFlags {
  host: string[];
  hostsFile?: string;
  inspector: string;
  shape: string;
  profile: string;
  interval?: string;
  timeout?: string;
  k?: string;
  labId: string;
  stateDir?: string;
  json?: boolean;
  /** Fleet mode: etcd URL, group, this agent's id, owners per host, lease TTL (s), self-check targets, refresh (s). */
  join?: string;
  group?: string;
  agentId?: string;
  replicas?: string;
  ttl?: string;
  selfCheck?: string[];
  refresh?: string;
  /** Watch every compute host Nova knows (os-hypervisors: service host and host_ip), read again every --refresh. */
  hostsFromNova?: boolean;
}

/** --host flags and the lines of --hosts-file (NAME=IP each; blank lines and # comments skipped). */
function hostsOf(flags: MonitorFlags): MonitoredHost[] {
  if (!flags.hostsFile) return parseHostFlags(flags.host);
  let text: string;
  try {
    text = readFileSync(flags.hostsFile, 'utf8');
  } catch (err) {
    throw new ConfigError('--hosts-file', `cannot read ${flags.hostsFile}: ${(err as Error).message}`);
  }
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  return [...(flags.host.length ? parseHostFlags(flags.host) : []), ...parseHostFlags(lines, `--hosts-file ${flags.hostsFile}`)];
}

function numberFlag(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(name, `"${v}" must be a number ≥ ${min}`);
  return n;
}

function memoryMiB(): Record<string, number> {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external) };
}

/**
 * The compute hosts in Nova's hypervisor records, by service host name (what the inspector forces down)
 * and host_ip, sorted by name so every agent of a fleet reads the same list. Several nodes of one service
 * host (ironic) are one host; a record without an IPv4 host_ip, or with another host's, is left out and
 * said once.
 */
export function novaHosts(list: () => Promise<Hypervisor[]>, warn: (m: string) => void): () => Promise<MonitoredHost[]> {
  const said = new Set<string>();
  const once = (m: string) => {
    if (!said.has(m)) warn(m);
    said.add(m);
  };
  return async () => {
    const hyps = [...(await list())].sort((a, b) => (a.serviceHost < b.serviceHost ? -1 : a.serviceHost > b.serviceHost ? 1 : 0));
    const byName = new Map<string, MonitoredHost>();
    const byIp = new Map<string, string>();
    for (const h of hyps) {
      if (byName.has(h.serviceHost)) continue;
      if (!h.hostIp || !IPV4.test(h.hostIp)) {
        once(`hypervisor ${h.hostname} (${h.serviceHost}) has no IPv4 host_ip (${JSON.stringify(h.hostIp)}): not watched`);
        continue;
      }
      const other = byIp.get(h.hostIp);
      if (other) {
        once(`hypervisor ${h.serviceHost} has the host_ip of ${other} (${h.hostIp}): not watched`);
        continue;
      }
      byName.set(h.serviceHost, { name: h.serviceHost, ip: h.hostIp });
      byIp.set(h.hostIp, h.serviceHost);
    }
    return [...byName.values()];
  };
}

/**
 * Where the hosts come from: --host and --hosts-file (read again at each refresh), or Nova. The OpenStack
 * client (like the fleet's etcd client) loads only when asked for: a monitor of thousands of hosts keeps
 * its memory for them.
 */
async function hostSource(flags: MonitorFlags, env: NodeJS.ProcessEnv, warn: (m: string) => void): Promise<{ read: () => Promise<MonitoredHost[]>; close: () => void }> {
  if (!flags.hostsFromNova) return { read: () => Promise.resolve(hostsOf(flags)), close: () => undefined };
  if (flags.host.length || flags.hostsFile) throw new ConfigError('--hosts-from-nova', 'takes the hosts from Nova: leave out --host and --hosts-file');
  const { createOpenStackClient, loadCredentials } = await import('../openstack/index.js');
  const client = createOpenStackClient({ credentials: loadCredentials(env, readText) });
  return { read: novaHosts(() => client.compute.hypervisors.listDetail(), warn), close: () => client.close() };
}

/** `doctor monitor`: probe hosts until Ctrl-C, report each host-down to the inspector. */
export async function runMonitor(flags: MonitorFlags, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<void> {
  const warn = (m: string) => out(flags.json ? JSON.stringify({ event: 'warning', message: m }) : `warning: ${m}`);
  const source = await hostSource(flags, env, warn);
  try {
    await monitorFrom(source.read, flags, env, out, warn);
  } finally {
    source.close();
  }
}

async function monitorFrom(
  readHosts: () => Promise<MonitoredHost[]>, flags: MonitorFlags, env: NodeJS.ProcessEnv, out: (l: string) => void, warn: (m: string) => void,
): Promise<void> {
  const hosts = await readHosts();
  if (flags.shape !== 'doctor' && flags.shape !== 'vitrage') throw new ConfigError('--shape', `"${flags.shape}" must be doctor or vitrage`);
  const base = flags.profile === 'fast' ? FAST_PROFILE : flags.profile === 'doctor' ? DOCTOR_PROFILE : undefined;
  if (!base) throw new ConfigError('--profile', `"${flags.profile}" must be doctor or fast`);
  const k = numberFlag('--k', flags.k, 1);
  if (k !== undefined && !Number.isInteger(k)) throw new ConfigError('--k', `"${flags.k}" must be a whole number`);
  const profile = {
    intervalMs: numberFlag('--interval', flags.interval, 1) ?? base.intervalMs,
    timeoutMs: numberFlag('--timeout', flags.timeout, 1) ?? base.timeoutMs,
    k: k ?? base.k,
  };
  const reporter = new InspectorReporter({ url: flags.inspector, shape: flags.shape as EventShape, ...(env['DOCTOR_INSPECTOR_TOKEN'] ? { token: env['DOCTOR_INSPECTOR_TOKEN'] } : {}) });

  // Lab mode: lab addresses must go out through this lab's own links, nowhere else.
  let guard: ((ips: string[]) => Promise<void>) | undefined;
  if (hosts.some((h) => isLabAddress(h.ip))) {
    const dir = labStateDir(flags, env);
    const state = readState(dir);
    if (!state) throw new ConfigError(flags.hostsFromNova ? '--hosts-from-nova' : '--host', `lab addresses given but no lab "${flags.labId}" is up at ${dir}; run doctor lab up first`);
    guard = labRouteGuard(state);
  }

  const openTransport = () => openIcmp(env, (reason) => warn(rawSocketWarning(reason)));
  const emit = (human: string, record: Record<string, unknown>) => out(flags.json ? JSON.stringify(record) : human);
  if (flags.join) {
    const selfCheck = flags.selfCheck?.length ? parseHostFlags(flags.selfCheck, '--self-check') : [];
    const monitor = new Monitor({ hosts: [], transport: await openTransport(), ...profile, ...(guard ? { guard } : {}) });
    const fleet = await startFleet(flags, { monitor, reporter, selfCheck, hosts: readHosts, emit });
    out(flags.json ? JSON.stringify({ event: 'started', fleet: flags.join, agent: fleet.agentId, hosts: hosts.length, profile, transport: monitor.transport }) : `agent ${fleet.agentId} of fleet ${flags.join}: ${hosts.length} host(s) in all, probing its share every ${profile.intervalMs} ms (timeout ${profile.timeoutMs} ms, down after ${profile.k} loss(es)); Ctrl-C stops`);
    await untilSignal();
    await fleet.agent.stop();
    summary(monitor, emit);
    return;
  }
  const monitor = new Monitor({ hosts, transport: await openTransport(), ...profile, ...(guard ? { guard } : {}) });
  monitor.on('down', (e: HostDownEvent) => {
    emit(`${new Date(e.detectedAt).toISOString()} ${e.host} (${e.ip}) DOWN after ${e.losses} lost probe(s)`, { event: 'down', ...e });
    void reporter.report(e.host, e.detectedAt).then((r) =>
      emit(r.ok ? `  reported to the inspector (HTTP ${r.status}, ${r.attempts} attempt(s))` : `  NOT reported to the inspector: ${r.error}`, { event: 'report', host: e.host, ...r }),
    );
  });
  monitor.on('up', (e: HostUpEvent) => emit(`${new Date(e.at).toISOString()} ${e.host} (${e.ip}) up`, { event: 'up', ...e }));
  await monitor.start();
  // The host list may change (a new compute, an edited file): keep probing the kept ones as they were.
  const refreshMs = (numberFlag('--refresh', flags.refresh, 0.1) ?? 10) * 1000;
  const refresh = flags.hostsFromNova || flags.hostsFile ? setInterval(() => {
    void readHosts().then((next) => monitor.setHosts(next, () => 'unknown')).catch((err: Error) => warn(`reading the host list again failed, keeping the last: ${err.message}`));
  }, refreshMs) : undefined;
  const shown = hosts.length > 10 ? `${hosts.slice(0, 10).map((h) => `${h.name}=${h.ip}`).join(', ')} and ${hosts.length - 10} more` : hosts.map((h) => `${h.name}=${h.ip}`).join(', ');
  out(flags.json ? JSON.stringify({ event: 'started', hosts, profile, transport: monitor.transport }) : `monitoring ${shown} every ${profile.intervalMs} ms (timeout ${profile.timeoutMs} ms, down after ${profile.k} loss(es)); Ctrl-C stops`);
  monitor.ready(5_000).catch((err: Error) => warn(err.message));
  await untilSignal();
  clearInterval(refresh);
  monitor.stop();
  summary(monitor, emit);
}

type Emit = (human: string, record: Record<string, unknown>) => void;

function summary(monitor: Monitor, emit: Emit): void {
  const states = monitor.states();
  const total = (k: 'sent' | 'replies' | 'losses') => states.reduce((n, h) => n + h[k], 0);
  const sched = monitor.schedule();
  const down = states.filter((h) => h.state === 'down').map((h) => h.host);
  emit(
    `stopped: ${total('sent')} probes to ${states.length} host(s), ${total('replies')} replies, ${total('losses')} counted lost; probes left ${sched.lateP50Ms} ms late at p50, ${sched.lateP99Ms} ms at p99${sched.skipped ? `, ${sched.skipped} skipped by a stalled event loop` : ''}${down.length ? `; down now: ${down.slice(0, 10).join(', ')}${down.length > 10 ? ` and ${down.length - 10} more` : ''}` : ''}`,
    { event: 'stopped', hosts: states.length, sent: total('sent'), replies: total('replies'), losses: total('losses'), down, schedule: sched, memory: memoryMiB() },
  );
}

/** Fleet mode (--join): this process is one agent; it probes the share of the hosts the ring gives it. */
async function startFleet(
  flags: MonitorFlags,
  deps: { monitor: Monitor; reporter: InspectorReporter; selfCheck: MonitoredHost[]; hosts: () => Promise<MonitoredHost[]>; emit: Emit },
): Promise<{ agent: FleetAgent; agentId: string }> {
  const replicas = numberFlag('--replicas', flags.replicas, 1) ?? 1;
  if (!Number.isInteger(replicas)) throw new ConfigError('--replicas', `"${flags.replicas}" must be a whole number`);
  const ttlS = numberFlag('--ttl', flags.ttl, 2) ?? 5;
  if (!Number.isInteger(ttlS)) throw new ConfigError('--ttl', `"${flags.ttl}" must be whole seconds (etcd leases count in seconds)`);
  const refreshMs = (numberFlag('--refresh', flags.refresh, 0.1) ?? 10) * 1000;
  const agentId = flags.agentId ?? hostname();
  if (!/^[A-Za-z0-9_.@-]+$/.test(agentId)) throw new ConfigError('--agent-id', `"${agentId}" may hold only letters, digits, . _ @ -`);
  const { FleetAgent, FleetStore, fleetClient, parseEtcdUrl } = await import('../fleet/index.js');
  const store = new FleetStore(fleetClient(parseEtcdUrl(flags.join!)), flags.group ?? 'default');
  const { emit } = deps;
  // Why a rebalance or a rejoin happened goes to stderr as JSON lines; stdout keeps the events.
  const logger = createLogger({ level: 'info', destination: process.stderr });
  // Failures committed within 2 ms of each other reach the inspector in one PUT /events.
  const report = batchedReports(deps.reporter);
  const agent = new FleetAgent({ store, monitor: deps.monitor, agentId, ttlS, replicas, hosts: deps.hosts, refreshMs, selfCheck: deps.selfCheck, logger,
    report: async (rec) => {
      const r = await report({ hostname: rec.host, detectedAt: rec.detectedAt, eventId: rec.eventId, details: { agents: rec.agents, fleet_committed: rec.committed } });
      emit(r.ok ? `  reported to the inspector (HTTP ${r.status}, ${r.attempts} attempt(s))` : `  NOT reported to the inspector: ${r.error}`, { event: 'report', host: rec.host, eventId: rec.eventId, ...r });
    } });
  agent.on('assignment', (a) => emit(`${new Date().toISOString()} fleet of ${a.members.length} (${a.members.join(', ')}): probing ${a.hosts.length} host(s), ${a.added.length} new, ${a.removed.length} handed over`, { event: 'assignment', at: Date.now(), ...a }));
  agent.on('down', (rec) => emit(`${new Date(rec.detectedAt).toISOString()} ${rec.host} DOWN, seen by ${rec.agents.join(', ')}${rec.committed ? '' : ' (etcd unreachable: reported without the fleet\'s commit)'}`, { event: 'down', ...rec }));
  agent.on('held', (h) => emit(`${new Date().toISOString()} ${h.host} looks down here, not raised: ${h.why === 'committed' ? 'another agent already did' : h.why === 'no-majority' ? `waiting for a majority of its owners (${h.voters?.join(', ')})` : 'our own network does not answer'}`, { event: 'held', at: Date.now(), ...h }));
  agent.on('etcd', (e) => emit(e.state === 'joined' ? `${new Date().toISOString()} in the fleet on etcd` : `${new Date().toISOString()} out of the fleet (${e.error}): probing the last share, rejoining when etcd answers`, { event: 'etcd', at: Date.now(), ...e }));
  await agent.start();
  return { agent, agentId };
}

/** What to tell a user whose monitor fell back to raw-socket without asking for it (`reason`: why the batching socket did not load). */
export function rawSocketWarning(reason: string): string {
  return `probing through raw-socket, which costs about half as much CPU again at thousands of hosts: the batching ICMP socket (native/icmp-batch) is not usable (${reason}); build it with npm run build:native, or set DOCTOR_ICMP_TRANSPORT=raw-socket to choose raw-socket`;
}

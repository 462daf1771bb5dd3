/**
 * A monitor fleet for real: Debian's etcd on loopback, three `doctor monitor --join` agents (separate
 * processes, real raw ICMP) over 300 addresses of one lab host, and a recording inspector. Faults are
 * one address's ICMP dropped by iptables inside the lab host's namespace. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FleetStore, fleetClient, parseEtcdUrl } from '../../src/fleet/index.js';
import { aliasAddresses, startCloud, type LabCloud, type LabState } from '../../src/lab/index.js';
import { cutGroup, type CutGroup } from '../helpers/cgroup.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { temporaryLab } from '../helpers/hosts.js';
import { recordingServer, type RecordingServer } from '../helpers/http.js';
import { eventually } from '../helpers/lab.js';
import { toozOwners } from '../helpers/tooz.js';

const BIN = new URL('../../bin/doctor.js', import.meta.url).pathname;
const TTL_S = 2;
const ADDRESSES = 300;

type Line = Record<string, unknown> & { event: string };

interface Agent {
  id: string;
  child: ChildProcess;
  lines: Line[];
  /** The hosts of its latest assignment, and the members it was computed with. */
  latest(): { hosts: string[]; members: string[]; at: number } | undefined;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

describe('a monitor fleet on etcd', () => {
  let etcd: TestEtcd;
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let state: LabState;
  let inspector: RecordingServer;
  let dir: string;
  let names: string[];
  const ipOf = new Map<string, string>();
  const agents = new Map<string, Agent>();
  /** Every process started, for the clean-up (a twin of an id is not in `agents`). */
  const everyAgent: Agent[] = [];
  const dropped = new Set<string>();
  const cutGroups: CutGroup[] = [];
  let cloud: LabCloud | undefined;

  const start = (id: string, { group = 'test', extra = [], cgroup, env }: { group?: string; extra?: string[]; cgroup?: CutGroup; env?: NodeJS.ProcessEnv } = {}): Agent => {
    const hosts = extra.includes('--hosts-from-nova') ? [] : ['--hosts-file', join(dir, 'hosts')];
    const args = [BIN, 'monitor', '--join', etcd.url, '--group', group, '--agent-id', id, ...extra, '--ttl', String(TTL_S), ...hosts,
      '--inspector', inspector.url, '--interval', '50', '--timeout', '50', '--k', '2', '--lab-id', state.labId, '--state-dir', state.stateDir, '--json'];
    const [cmd, argv] = cgroup ? cgroup.wrap([process.execPath, ...args]) : [process.execPath, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    const lines: Line[] = [];
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
    child.on('error', (err) => (stderr += err.message));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l) as Line);
      } catch {
        lines.push({ event: 'text', text: l });
      }
    });
    const agent: Agent = {
      id, child, lines,
      latest: () => {
        const a = lines.filter((l) => l.event === 'assignment').at(-1);
        return a && { hosts: a['hosts'] as string[], members: a['members'] as string[], at: a['at'] as number };
      },
      kill: async (signal = 'SIGTERM') => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        await gone;
      },
    };
    Object.defineProperty(agent, 'stderr', { get: () => stderr });
    if (!agents.has(`${group}/${id}`)) agents.set(`${group}/${id}`, agent);
    everyAgent.push(agent);
    return agent;
  };

  const drop = (ip: string, on: boolean) => {
    execFileSync('ip', ['netns', 'exec', state.hosts[0]!.namespace, 'iptables', on ? '-I' : '-D', 'INPUT', '-d', ip, '-p', 'icmp', '-j', 'DROP']);
    if (on) dropped.add(ip);
    else dropped.delete(ip);
  };

  /** Every live agent computed its share with exactly `members`, and the shares cover every host once. */
  const settledOn = (members: string[]) => {
    const live = members.map((m) => agents.get(`test/${m}`)!.latest());
    if (live.some((l) => !l || l.members.join() !== [...members].sort().join())) return undefined;
    return live as Array<{ hosts: string[]; members: string[]; at: number }>;
  };

  /** Every event the inspector got (a request may carry several: the agents batch what commits at once). */
  const events = () => inspector.received.flatMap((r) => r.body as Array<{ details: Record<string, any> }>); // eslint-disable-line @typescript-eslint/no-explicit-any
  const eventsFor = (host: string) => events().filter((e) => e.details['hostname'] === host);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'doctor-fleet-'));
    etcd = await startEtcd();
    lab = await temporaryLab(1, 'doctor-fleet-lab-', { aliasesPerHost: ADDRESSES });
    state = lab.state;
    const ips = aliasAddresses(state.hosts[0]!.aliases!);
    names = ips.map((ip, i) => `compute-${i + 1}`);
    names.forEach((n, i) => ipOf.set(n, ips[i]!));
    writeFileSync(join(dir, 'hosts'), names.map((n) => `${n}=${ipOf.get(n)}`).join('\n') + '\n');
    inspector = await recordingServer();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(everyAgent.map((a) => a.kill('SIGKILL')));
    for (const g of cutGroups) g.remove();
    for (const ip of dropped) drop(ip, false);
    await inspector?.close();
    await cloud?.stop();
    await lab?.remove();
    await etcd?.remove();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('splits 300 addresses over 3 agents, each owned by exactly one, as tooz\'s ring does', async () => {
    const ids = ['agent-a', 'agent-b', 'agent-c'];
    ids.forEach((id) => start(id));
    const shares = await eventually(() => settledOn(ids), 20_000, () => `3 agents agreeing on the members (${[...agents.values()].map((a) => `${a.id}: ${JSON.stringify(a.latest()?.members)}`).join('; ')})`);
    const all = shares.flatMap((s) => s.hosts);
    expect(all).toHaveLength(ADDRESSES);
    expect(new Set(all).size).toBe(ADDRESSES);
    const [tooz] = toozOwners([{ members: ids, keys: names, replicas: 1, ignore: [] }]);
    ids.forEach((id, i) => expect(shares[i]!.hosts.sort(), id).toEqual(names.filter((_, k) => tooz![k]![0] === id).sort()));
    // Each agent has work, and none raised an alarm: every address answers.
    expect(shares.every((s) => s.hosts.length > 30)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(events()).toEqual([]);
  }, 40_000);

  it('hands a killed agent\'s addresses to the others within TTL + 1 s, and a fault during the hand-over is reported once', async () => {
    const victim = agents.get('test/agent-b')!;
    const orphan = victim.latest()!.hosts[0]!;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    drop(ipOf.get(orphan)!, true);
    const shares = await eventually(() => settledOn(['agent-a', 'agent-c']), 10_000, 'the two agents left agreeing on the members');
    const all = shares.flatMap((s) => s.hosts);
    expect(new Set(all).size).toBe(ADDRESSES);
    expect(all).toHaveLength(ADDRESSES);
    const [tooz] = toozOwners([{ members: ['agent-a', 'agent-c'], keys: names, replicas: 1, ignore: [] }]);
    expect(shares[0]!.hosts.sort()).toEqual(names.filter((_, k) => tooz![k]![0] === 'agent-a').sort());
    expect(Math.max(...shares.map((s) => s.at)) - killedAt).toBeLessThanOrEqual((TTL_S + 1) * 1000);
    // The address that failed while it had no owner: its new owner reports it, once, naming itself.
    const owner = shares[0]!.hosts.includes(orphan) ? 'agent-a' : 'agent-c';
    await eventually(() => eventsFor(orphan).length > 0 || undefined, 5_000, `an event for ${orphan}`);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(eventsFor(orphan)).toHaveLength(1);
    expect(eventsFor(orphan)[0]!.details).toMatchObject({ hostname: orphan, status: 'down', agents: [owner], fleet_committed: true });
    expect(events()).toHaveLength(1);
    drop(ipOf.get(orphan)!, false);
  }, 30_000);

  it('keeps probing while etcd is down, reports what it sees, and rejoins when etcd is back', async () => {
    const a = agents.get('test/agent-a')!;
    const c = agents.get('test/agent-c')!;
    const target = a.latest()!.hosts.find((h) => !eventsFor(h).length)!;
    const before = events().length;
    await etcd.stop();
    // Past twice the TTL the agents give their leases up for lost.
    await eventually(() => [a, c].every((x) => x.lines.some((l) => l.event === 'etcd' && l['state'] === 'lost')) || undefined, 3 * TTL_S * 1000 + 2_000, 'both agents noticing that etcd is gone');
    drop(ipOf.get(target)!, true);
    await eventually(() => eventsFor(target).length > 0 || undefined, 5_000, `an event for ${target} while etcd is down`);
    expect(eventsFor(target)[0]!.details).toMatchObject({ hostname: target, agents: ['agent-a'], fleet_committed: false });
    expect(events().length - before).toBe(1);
    await etcd.start();
    await eventually(() => [a, c].every((x) => x.lines.at(-1) && x.lines.filter((l) => l.event === 'etcd').at(-1)?.['state'] === 'joined') || undefined, (TTL_S + 5) * 1000, 'both agents rejoining');
    const shares = await eventually(() => settledOn(['agent-a', 'agent-c']), 5_000, 'the agents agreeing again');
    expect(new Set(shares.flatMap((s) => s.hosts)).size).toBe(ADDRESSES);
    // The rejoining agent committed what it had reported alone (so no other agent raises it again).
    const store = new FleetStore(fleetClient(parseEtcdUrl(etcd.url)), 'test');
    try {
      const down = await eventually(async () => (await store.downs()).get(target), 5_000, `down/${target} in etcd`);
      expect(down).toMatchObject({ host: target, agents: ['agent-a'], committed: true, eventId: eventsFor(target)[0]!.details['monitor_event_id'] });
    } finally {
      store.client.close();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    expect(eventsFor(target)).toHaveLength(1);
    drop(ipOf.get(target)!, false);
  }, 40_000);

  it('refuses a second live agent with the same id, naming the flag to fix', async () => {
    const twin = start('agent-a');
    const code = twin.child.exitCode ?? (await new Promise<number | null>((r) => twin.child.once('exit', (c) => r(c))));
    expect(code).not.toBe(0);
    expect((twin as unknown as { stderr: string }).stderr).toMatch(/already called "agent-a".*--agent-id/);
  }, 20_000);

  it('with --replicas 3, every agent probes every address and a failure is raised once, by a majority', async () => {
    const ids = ['r-1', 'r-2', 'r-3'];
    const rs = ids.map((id) => start(id, { group: 'replicas', extra: ['--replicas', '3'] }));
    await eventually(() => rs.every((r) => r.latest()?.members.length === 3 && r.latest()!.hosts.length === ADDRESSES) || undefined, 20_000,
      () => `three replicas each owning all 300 (${rs.map((r) => `${r.id}: ${JSON.stringify(r.latest()?.members)} ${r.latest()?.hosts.length}`).join('; ')})`);
    await new Promise((r) => setTimeout(r, 1_000));
    const target = names.find((h) => !eventsFor(h).length)!;
    drop(ipOf.get(target)!, true);
    // The first fleet (agent-a, agent-c) watches the same addresses and reports too: count this one's.
    const ours = () => eventsFor(target).filter((e) => (e.details['agents'] as string[]).every((a) => ids.includes(a)));
    await eventually(() => ours().length > 0 || undefined, 5_000, `an event for ${target}`);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(ours()).toHaveLength(1);
    const seenBy = ours()[0]!.details['agents'] as string[];
    expect(seenBy.length).toBeGreaterThanOrEqual(2);
    expect(seenBy.every((a) => ids.includes(a))).toBe(true);
    drop(ipOf.get(target)!, false);
  }, 40_000);

  it('with --replicas 3, agents whose own network is cut raise nothing, and vote on a host still down once it is back', async () => {
    // The fleets before are done: fewer processes probing the same addresses on a busy machine.
    await Promise.all(everyAgent.map((a) => a.kill()));
    const ids = ['s-1', 's-2', 's-3'];
    const cuts = ['s-2', 's-3'].map((id) => cutGroup(id));
    cutGroups.push(...cuts);
    const selfCheck = ['--replicas', '3', '--self-check', `lab-host=${state.hosts[0]!.hostIp}`];
    const [s1, s2, s3] = ids.map((id, i) => start(id, { group: 'selfcheck', extra: selfCheck, ...(i ? { cgroup: cuts[i - 1]! } : {}) }));
    const shown = () => [s1!, s2!, s3!].map((r) => `${r.id}: ${JSON.stringify(r.latest()?.members)} ${r.latest()?.hosts.length} exit ${r.child.exitCode ?? r.child.signalCode} ${(r as unknown as { stderr: string }).stderr.slice(-300)}`).join('; ');
    await eventually(() => [s1!, s2!, s3!].every((r) => r.latest()?.members.length === 3 && r.latest()!.hosts.length === ADDRESSES) || undefined, 40_000, () => `three replicas each owning all 300 (${shown()})`);
    await new Promise((r) => setTimeout(r, 1_000));
    const ours = () => events().filter((e) => (e.details['agents'] as string[]).every((a) => ids.includes(a)));
    expect(ours()).toEqual([]);

    // Two of three owners cut off: without the self-check they would be a majority for all 300.
    cuts.forEach((c) => c.cut(true));
    const heldOwn = (a: Agent) => new Set(a.lines.filter((l) => l.event === 'held' && l['why'] === 'own-network').map((l) => l['host'] as string));
    await eventually(() => (heldOwn(s2!).size === ADDRESSES && heldOwn(s3!).size === ADDRESSES) || undefined, 5_000,
      () => `the cut agents holding every address (${heldOwn(s2!).size}, ${heldOwn(s3!).size})`);
    const target = names.find((h) => !eventsFor(h).length)!;
    drop(ipOf.get(target)!, true);
    await eventually(() => s1!.lines.some((l) => l.event === 'held' && l['host'] === target && l['why'] === 'no-majority') || undefined, 5_000, `s-1 voting ${target} down alone`);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(ours()).toEqual([]);
    expect(cuts.every((c) => c.dropped() > ADDRESSES)).toBe(true);
    const store = new FleetStore(fleetClient(parseEtcdUrl(etcd.url)), 'selfcheck');
    try {
      expect(await store.voters(target)).toEqual(['s-1']);
      // Their network back, the cut agents see the 299 live addresses answer and vote on the one still
      // silent: one event, raised by a majority, and nothing for the others.
      cuts.forEach((c) => c.cut(false));
      await eventually(() => ours().length > 0 || undefined, 5_000, `an event for ${target} once the agents' network is back`);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(ours()).toHaveLength(1);
      const details = ours()[0]!.details;
      expect(details.hostname).toBe(target);
      expect((details.agents as string[]).length).toBeGreaterThanOrEqual(2);
      expect(details.agents).toContain('s-1');
    } finally {
      store.client.close();
    }
    drop(ipOf.get(target)!, false);
  }, 90_000);

  it('votes on a host and reads its votes in one transaction: each answer holds every vote so far, its own included, and the votes go with the lease', async () => {
    const store = new FleetStore(fleetClient(parseEtcdUrl(etcd.url)), 'votes');
    const lease = store.lease(TTL_S);
    try {
      expect(await store.vote(lease, 'h1', 'a-1', 1)).toEqual(['a-1']);
      expect((await store.vote(lease, 'h1', 'a-2', 2)).sort()).toEqual(['a-1', 'a-2']);
      // Voting again counts once; another host (whose name starts the same) is apart.
      expect((await store.vote(lease, 'h1', 'a-1', 3)).sort()).toEqual(['a-1', 'a-2']);
      expect(await store.vote(lease, 'h10', 'a-3', 4)).toEqual(['a-3']);
      // Names are UTF-8 on the wire: a host's name of several bytes a character does not cut an agent's.
      expect(await store.vote(lease, 'hôte-ü', 'a-4', 5)).toEqual(['a-4']);
      expect((await store.voters('h1')).sort()).toEqual(['a-1', 'a-2']);
      await lease.revoke();
      expect(await store.voters('h1')).toEqual([]);
    } finally {
      store.client.close();
    }
  });

  it('reads its hosts from Nova\'s hypervisors, and a compute that appears there is watched within a refresh', async () => {
    await Promise.all(everyAgent.map((a) => a.kill()));
    // Twenty of the lab host's addresses as the computes of a simulated Nova, under names of their own.
    const ips = [...ipOf.values()].slice(0, 21);
    const nova = Array.from({ length: 20 }, (_, i) => ({ name: `nova-${i + 1}`, ip: ips[i]! }));
    cloud = await startCloud({ hosts: nova, buildDelayMs: 5 });
    const c = cloud.credentials();
    const env = { OS_AUTH_URL: c.authUrl, OS_USERNAME: c.username, OS_PASSWORD: c.password, OS_PROJECT_NAME: 'admin', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_CLOUD: '' };
    const ids = ['n-1', 'n-2'];
    const [n1, n2] = ids.map((id) => start(id, { group: 'nova', extra: ['--hosts-from-nova', '--refresh', '0.5'], env }));
    const union = () => [...(n1!.latest()?.hosts ?? []), ...(n2!.latest()?.hosts ?? [])].sort();
    const agreed = (count: number) => [n1!, n2!].every((a) => a.latest()?.members.length === 2) && union().length === count ? union() : undefined;
    const names20 = nova.map((h) => h.name);
    expect(await eventually(() => agreed(20), 20_000, () => `two agents sharing Nova's 20 hosts (${union().length})`)).toEqual([...names20].sort());
    const [tooz] = toozOwners([{ members: ids, keys: names20, replicas: 1, ignore: [] }]);
    expect(n1!.latest()!.hosts.sort()).toEqual(names20.filter((_, k) => tooz![k]![0] === 'n-1').sort());

    // A new nova-compute registers: its hypervisor record appears, and within a refresh it has an owner.
    cloud.cloud.state.addComputeHost({ name: 'nova-21', ip: ips[20]! }, cloud.cloud.now());
    const all = await eventually(() => agreed(21), 5_000, () => `nova-21 owned (${union().length} hosts)`);
    expect(new Set(all).size).toBe(21);
    await new Promise((r) => setTimeout(r, 1_000));
    drop(ips[20]!, true);
    await eventually(() => eventsFor('nova-21').length > 0 || undefined, 5_000, 'an event for nova-21');
    await new Promise((r) => setTimeout(r, 500));
    expect(eventsFor('nova-21')).toHaveLength(1);
    // No secret in what the agents print.
    expect([...n1!.lines, ...n2!.lines].map((l) => JSON.stringify(l)).join('\n')).not.toContain(c.password);
    drop(ips[20]!, false);
  }, 60_000);
});

import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError, processState, type Runner, runProcess, waitForPort } from '../../shared/index.js';
import { ALIASES_PER_SLOT, controllerAddressing, hostAddressing, MAX_HOSTS, MAX_SLOTS, slotPrefix, LAB_ID } from './addressing.js';
import { isOurSshd, SSHD, sshdConfig, startSshd } from './sshd.js';
import { acquireLock, claimSlot, readState, releaseSlot, statePath, writeState, type LabHostState, type LabState } from './state.js';

export interface LabOptions {
  stateDir: string;
  /** Names the lab's namespaces and veths: 1-5 lowercase letters or digits. */
  labId?: string;
  run?: Runner;
  progress?: (message: string) => void;
}

export interface HostStatus {
  name: string;
  ip: string;
  namespace: string;
  namespacePresent: boolean;
  linkUp: boolean;
  sshdRunning: boolean;
  sshReachable: boolean;
}

const SSHD_READY_MS = 15_000;
/** At most this many alias addresses in one lab (half the lab range: other labs need slots too). */
const MAX_ALIASES = (MAX_SLOTS / 2) * ALIASES_PER_SLOT;

/**
 * Brings N compute hosts up: namespace, veth pair, addresses, sshd with its own
 * host key, the harness key authorised, a known_hosts for all. Idempotent: an
 * existing lab is repaired and resized to N. Every resource is recorded in the
 * state file before it is created, so `labDown` can undo a crash at any point.
 */
export async function labUp(opts: LabOptions & { hosts: number; controller?: boolean; aliasesPerHost?: number }): Promise<LabState> {
  const run = opts.run ?? runProcess;
  const say = opts.progress ?? (() => {});
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new HarnessError(`--hosts must be a whole number from 1 to ${MAX_HOSTS} (got ${opts.hosts})`);
  }
  const aliases = opts.aliasesPerHost ?? 0;
  if (!Number.isInteger(aliases) || aliases < 0 || aliases * opts.hosts > MAX_ALIASES) {
    throw new HarnessError(`--addresses-per-host must be a whole number from 0 to ${Math.floor(MAX_ALIASES / opts.hosts)} for ${opts.hosts} host(s) (got ${opts.aliasesPerHost})`);
  }
  await preflight(run);
  const unlock = acquireLock(opts.stateDir);
  try {
    let state = readState(opts.stateDir);
    if (state && opts.labId && state.labId !== opts.labId) {
      throw new HarnessError(`${opts.stateDir} holds lab "${state.labId}", not "${opts.labId}"; use another --state-dir or drop --lab-id`);
    }
    if (!state) {
      const labId = opts.labId ?? 'main';
      if (!LAB_ID.test(labId)) throw new HarnessError(`lab id "${labId}" must be 1-5 lowercase letters or digits`);
      state = {
        version: 1, labId, slot: (await freeSlots(run, opts.stateDir, 1))[0]!, stateDir: opts.stateDir, createdAt: new Date().toISOString(), phase: 'creating',
        harnessKey: join(opts.stateDir, 'id_ed25519'), knownHosts: join(opts.stateDir, 'known_hosts'), hosts: [],
      };
      writeState(state);
      say(`lab "${labId}": using ${slotPrefix(state.slot)}0/24`);
    }
    state.phase = 'creating';
    writeState(state);
    if (!existsSync(state.harnessKey)) await keygen(run, state.harnessKey, 'doctor-harness');
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    for (const extra of state.hosts.filter((h) => h.index > opts.hosts)) {
      say(`removing ${extra.name}`);
      await removeHost(run, state, extra);
      state.hosts = state.hosts.filter((h) => h !== extra);
      writeState(state);
    }
    for (let i = 1; i <= opts.hosts; i++) {
      let host = state.hosts.find((h) => h.index === i);
      if (!host) {
        host = { ...hostAddressing(state.labId, state.slot, i), dir: join(opts.stateDir, 'hosts', `compute-${i}`) };
        state.hosts.push(host);
        state.hosts.sort((a, b) => a.index - b.index);
        writeState(state);
      }
      await ensureHost(run, state, host, say, opts.controller ?? false);
      await ensureAliases(run, state, host, aliases, say);
      writeState(state);
    }
    if (opts.controller) {
      if (!state.controller) {
        state.controller = { ...controllerAddressing(state.labId, state.slot), dir: join(opts.stateDir, 'hosts', 'controller') };
        writeState(state);
      }
      await ensureHost(run, state, state.controller, say, true);
      writeState(state);
    } else if (state.controller) {
      say('removing controller');
      await removeHost(run, state, state.controller);
      delete state.controller;
      writeState(state);
    }
    if (state.controller) await joinHosts(state);
    const deadline = Date.now() + SSHD_READY_MS;
    for (const h of allHosts(state)) {
      if (!(await waitForPort(h.hostIp, 22, deadline))) {
        const log = readFileSafe(join(h.dir, 'sshd.log')).trim().split('\n').slice(-3).join(' | ');
        throw new HarnessError(`sshd on ${h.name} (${h.hostIp}) did not accept connections within ${SSHD_READY_MS / 1000} s; its log says: ${log || '(nothing)'}`);
      }
    }
    writeKnownHosts(state);
    state.phase = 'up';
    writeState(state);
    say(`lab "${state.labId}" up: ${state.hosts.map((h) => `${h.name}=${h.hostIp}`).join(', ')}`);
    return state;
  } finally {
    unlock();
  }
}

/** Removes everything the state file names: processes in the namespaces, namespaces, veths, files. */
export async function labDown(opts: LabOptions): Promise<{ removed: string[] }> {
  const run = opts.run ?? runProcess;
  const say = opts.progress ?? (() => {});
  if (!existsSync(statePath(opts.stateDir))) return { removed: [] };
  const unlock = acquireLock(opts.stateDir);
  const removed: string[] = [];
  try {
    const state = readState(opts.stateDir)!;
    if (state.controller) {
      say('removing controller');
      await removeHost(run, state, state.controller);
      removed.push(state.controller.name);
      delete state.controller;
      writeState(state);
    }
    for (const h of [...state.hosts].reverse()) {
      say(`removing ${h.name}`);
      await removeHost(run, state, h);
      removed.push(h.name);
      state.hosts = state.hosts.filter((x) => x !== h);
      writeState(state);
    }
    for (const f of [state.harnessKey, `${state.harnessKey}.pub`, state.knownHosts, statePath(opts.stateDir)]) rmSync(f, { force: true });
    releaseSlot(state.slot, opts.stateDir);
    rmSync(join(opts.stateDir, 'hosts'), { recursive: true, force: true });
  } finally {
    unlock();
  }
  try {
    rmdirSync(opts.stateDir);
  } catch {
    const left = existsSync(opts.stateDir) ? readdirSync(opts.stateDir) : [];
    if (left.length) say(`left ${opts.stateDir} in place: it holds files the lab did not create (${left.join(', ')})`);
  }
  return { removed };
}

export async function labStatus(opts: LabOptions): Promise<{ state: LabState | undefined; hosts: HostStatus[] }> {
  const run = opts.run ?? runProcess;
  const state = readState(opts.stateDir);
  if (!state) return { state, hosts: [] };
  const namespaces = await listNamespaces(run);
  const hosts: HostStatus[] = [];
  for (const h of allHosts(state)) {
    const present = namespaces.has(h.namespace);
    const link = present ? await run('ip', ['-n', h.namespace, '-o', 'link', 'show', 'dev', h.vethHost]) : undefined;
    hosts.push({
      name: h.name, ip: h.hostIp, namespace: h.namespace, namespacePresent: present,
      linkUp: Boolean(link && link.exitCode === 0 && /[<,]UP[,>]/.test(link.stdout)),
      sshdRunning: isOurSshd(h.sshdPid, h.dir),
      sshReachable: present ? await waitForPort(h.hostIp, 22, Date.now() + 300) : false,
    });
  }
  return { state, hosts };
}

/** Replaces a host's SSH host key and restarts its sshd (known_hosts is left as it was: a test of key checking). */
export async function rotateHostKey(state: LabState, name: string, run: Runner = runProcess): Promise<void> {
  const h = allHosts(state).find((x) => x.name === name);
  if (!h) throw new HarnessError(`no lab host named ${name}`);
  await stopPid(h.sshdPid, h.dir);
  rmSync(join(h.dir, 'ssh_host_ed25519_key'), { force: true });
  rmSync(join(h.dir, 'ssh_host_ed25519_key.pub'), { force: true });
  await keygen(run, join(h.dir, 'ssh_host_ed25519_key'), `doctor-lab-${h.name}`);
  h.hostKey = publicKeyOf(join(h.dir, 'ssh_host_ed25519_key'));
  h.sshdPid = startSshd(h.namespace, h.dir);
  writeState(state);
  if (!(await waitForPort(h.hostIp, 22, Date.now() + SSHD_READY_MS))) throw new HarnessError(`sshd on ${name} did not come back`);
}

/**
 * Puts a lab host back at once: first stops the processes in its namespace whose command line
 * holds `stopping` (a fault script, and the sleep it waits in: the script runs in a session of its
 * own) with SIGTERM, on which a script puts its fault back itself and logs it, SIGKILL after 2 s;
 * so a script that has not made its fault yet cannot make it after this returns. Then, whatever
 * became of the script: the link is set up and any packet-filter chain a fault left (DOCTOR-…) is
 * removed with the rules that jump to it, and any process a freeze stopped is continued.
 */
export async function restoreHostLink(host: LabHostState, opts: { stopping?: string; run?: Runner } = {}): Promise<{ stopped: number[] }> {
  const run = opts.run ?? runProcess;
  const stopped: number[] = [];
  if (opts.stopping) {
    for (const pid of await namespacePids(run, host.namespace)) {
      if (cmdlineOf(pid).includes(opts.stopping)) stopped.push(pid);
    }
    // Each script leads its own session (setsid): its group holds the sleep it waits in.
    await stopPids(stopped, { group: true });
  }
  await must(run, 'ip', ['-n', host.namespace, 'link', 'set', 'dev', host.vethHost, 'up']);
  await clearFaultFilters(run, host.namespace);
  // A freeze whose script did not continue them: every process of a lab host is the lab's own.
  for (const pid of await namespacePids(run, host.namespace)) if (processState(pid) === 'T') signal(pid, 'SIGCONT');
  return { stopped };
}

/** Removes the packet-filter chains faults make in a lab host (DOCTOR-…) and the rules that jump to them; none: nothing to do. */
async function clearFaultFilters(run: Runner, namespace: string): Promise<void> {
  const listed = await run('ip', ['netns', 'exec', namespace, 'iptables', '-w', '-S']);
  if (listed.exitCode !== 0) return; // no iptables here: no fault could have used it
  const lines = listed.stdout.split('\n');
  for (const rule of lines.filter((l) => /^-A \S+ .*-j DOCTOR-\w+$/.test(l))) {
    await must(run, 'ip', ['netns', 'exec', namespace, 'iptables', '-w', '-D', ...rule.slice(3).split(' ')]);
  }
  for (const chain of lines.flatMap((l) => /^-N (DOCTOR-\w+)$/.exec(l)?.[1] ?? [])) {
    await must(run, 'ip', ['netns', 'exec', namespace, 'iptables', '-w', '-F', chain]);
    await must(run, 'ip', ['netns', 'exec', namespace, 'iptables', '-w', '-X', chain]);
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

async function ensureHost(run: Runner, state: LabState, h: LabHostState, say: (m: string) => void, joined = false): Promise<void> {
  const namespaces = await listNamespaces(run);
  if (!namespaces.has(h.namespace)) {
    say(`creating ${h.name} (${h.hostIp})`);
    await must(run, 'ip', ['netns', 'add', h.namespace]);
  }
  if ((await run('ip', ['link', 'show', 'dev', h.vethRoot])).exitCode !== 0) {
    await must(run, 'ip', ['link', 'add', h.vethRoot, 'type', 'veth', 'peer', 'name', h.vethHost, 'netns', h.namespace]);
  }
  await addAddress(run, [], h.vethRoot, `${h.rootIp}/${h.prefix}`);
  await must(run, 'ip', ['link', 'set', 'dev', h.vethRoot, 'up']);
  // Joined hosts see the lab's whole /24 on their link (this machine answers ARP for the others and forwards):
  // a connected route, so it comes back by itself when a fault brings the link back up.
  await addAddress(run, ['-n', h.namespace], h.vethHost, `${h.hostIp}/${joined ? 24 : h.prefix}`);
  await must(run, 'ip', ['-n', h.namespace, 'link', 'set', 'dev', h.vethHost, 'up']);
  await must(run, 'ip', ['-n', h.namespace, 'link', 'set', 'dev', 'lo', 'up']);

  mkdirSync(h.dir, { recursive: true, mode: 0o700 });
  const key = join(h.dir, 'ssh_host_ed25519_key');
  if (!existsSync(key)) await keygen(run, key, `doctor-lab-${h.name}`);
  h.hostKey = publicKeyOf(key);
  copyFileSync(`${state.harnessKey}.pub`, join(h.dir, 'authorized_keys'));
  chmodSync(join(h.dir, 'authorized_keys'), 0o600);
  writeFileSync(join(h.dir, 'sshd_config'), sshdConfig(h.dir, h.hostIp, { reverseTunnels: h === state.controller }), { mode: 0o600 });
  if (!isOurSshd(h.sshdPid, h.dir)) {
    // A crash may have lost the PID of an sshd that still runs: adopt it rather than start a second.
    const running = await namespacePids(run, h.namespace);
    h.sshdPid = running.find((p) => isOurSshd(p, h.dir)) ?? startSshd(h.namespace, h.dir);
    writeState(state);
  }
}

/**
 * Routes `count` more addresses to the host: whole /24 slots of the lab range, each a local route
 * on the host's loopback (the kernel answers every address in it) and a route through its link
 * here. Slots are claimed and recorded before any route is made; routes go with the link.
 */
async function ensureAliases(run: Runner, state: LabState, h: LabHostState, count: number, say: (m: string) => void): Promise<void> {
  const wanted = Math.ceil(count / ALIASES_PER_SLOT);
  const have = h.aliases?.slots ?? [];
  for (const slot of have.slice(wanted)) {
    const range = `${slotPrefix(slot)}0/24`;
    await run('ip', ['route', 'del', range, 'dev', h.vethRoot]);
    await run('ip', ['-n', h.namespace, 'route', 'del', 'local', range, 'dev', 'lo']);
    releaseSlot(slot, state.stateDir);
  }
  const kept = have.slice(0, wanted);
  // Never a slot this lab already holds: its own, or another host's.
  const held = [state.slot, ...allHosts(state).flatMap((x) => x.aliases?.slots ?? [])];
  const slots = [...kept, ...(wanted > kept.length ? await freeSlots(run, state.stateDir, wanted - kept.length, held) : [])];
  if (slots.length) h.aliases = { slots, count };
  else delete h.aliases;
  writeState(state);
  for (const slot of slots) {
    const range = `${slotPrefix(slot)}0/24`;
    await must(run, 'ip', ['-n', h.namespace, 'route', 'replace', 'local', range, 'dev', 'lo']);
    await must(run, 'ip', ['route', 'replace', range, 'via', h.hostIp, 'dev', h.vethRoot]);
  }
  if (slots.length) say(`${h.name} also answers ${count} address(es) in ${slots.map((x) => `${slotPrefix(x)}0/24`).join(', ')}`);
}

async function removeHost(run: Runner, state: LabState, h: LabHostState): Promise<void> {
  const namespaces = await listNamespaces(run);
  const pids = new Set<number>();
  if (isOurSshd(h.sshdPid, h.dir)) pids.add(h.sshdPid!);
  // Everything running in the namespace is the lab's: sshd, its sessions, fault scripts.
  if (namespaces.has(h.namespace)) for (const p of await namespacePids(run, h.namespace)) pids.add(p);
  await stopPids([...pids]);
  if (namespaces.has(h.namespace)) await must(run, 'ip', ['netns', 'del', h.namespace]);
  if ((await run('ip', ['link', 'show', 'dev', h.vethRoot])).exitCode === 0) await run('ip', ['link', 'del', 'dev', h.vethRoot]);
  // The alias routes went with the link; the slots are free again.
  for (const slot of h.aliases?.slots ?? []) releaseSlot(slot, state.stateDir);
  rmSync(h.dir, { recursive: true, force: true });
}

async function stopPid(pid: number | undefined, dir: string): Promise<void> {
  if (isOurSshd(pid, dir)) await stopPids([pid!]);
}

/** SIGTERM, then SIGKILL whatever is still there after 2 s; `group`: to each PID's process group. */
async function stopPids(pids: number[], opts: { group?: boolean } = {}): Promise<void> {
  if (!pids.length) return;
  const send = (p: number, sig: NodeJS.Signals) => signal(opts.group ? -p : p, sig);
  for (const p of pids) send(p, 'SIGTERM');
  const deadline = Date.now() + 2_000;
  while (pids.some(running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  for (const p of pids.filter(running)) send(p, 'SIGKILL');
  while (pids.some(running) && Date.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Alive and not a zombie. A fault script or sshd session that ended is reparented to PID 1, which
 * may reap it only seconds later: waiting for the PID to vanish made every lab restore wait about
 * 2 s for a process that had already exited.
 */
function running(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * With a controller, the hosts reach each other as on a real deployment's management network: each
 * namespace has the lab's /24 on its link, and this machine answers ARP for the other hosts (proxy ARP)
 * and forwards between the lab's own links only (both switched on per veth, never machine-wide, and gone
 * with the veth). The namespaces have no route anywhere else.
 */
async function joinHosts(state: LabState): Promise<void> {
  for (const h of allHosts(state)) {
    for (const knob of ['proxy_arp', 'forwarding']) writeFileSync(`/proc/sys/net/ipv4/conf/${h.vethRoot}/${knob}`, '1');
  }
}

/** The computes, then the controller when there is one. */
export function allHosts(state: LabState): LabHostState[] {
  return [...state.hosts, ...(state.controller ? [state.controller] : [])];
}

function writeKnownHosts(state: LabState): void {
  const lines = allHosts(state).filter((h) => h.hostKey).map((h) => `${h.hostIp} ${h.hostKey}`);
  writeFileSync(state.knownHosts, `${lines.join('\n')}\n`, { mode: 0o600 });
}

function publicKeyOf(privateKeyPath: string): string {
  const [type, blob] = readFileSync(`${privateKeyPath}.pub`, 'utf8').trim().split(/\s+/);
  return `${type} ${blob}`;
}

async function keygen(run: Runner, path: string, comment: string): Promise<void> {
  await must(run, 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  chmodSync(path, 0o600);
  chmodSync(`${path}.pub`, 0o600);
}

async function addAddress(run: Runner, ns: string[], dev: string, cidr: string): Promise<void> {
  const r = await run('ip', [...ns, 'addr', 'add', cidr, 'dev', dev]);
  if (r.exitCode !== 0 && !/File exists|already assigned/i.test(r.stderr)) {
    throw new HarnessError(`ip ${[...ns, 'addr', 'add', cidr, 'dev', dev].join(' ')} failed: ${r.stderr}`);
  }
}

async function namespacePids(run: Runner, namespace: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', namespace]);
  return r.exitCode === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

async function listNamespaces(run: Runner): Promise<Set<string>> {
  const r = await run('ip', ['netns', 'list']);
  return new Set(r.stdout.split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean));
}

/**
 * `count` /24s of 198.18.0.0/15 claimed for `stateDir`, the lowest that have no address or route in
 * this (root) namespace, that no other lab has claimed, and that are not in `ours`. One look at the
 * namespace for all of them.
 */
async function freeSlots(run: Runner, stateDir: string, count: number, ours: number[] = []): Promise<number[]> {
  const words = `${(await must(run, 'ip', ['-4', '-o', 'addr', 'show'])).stdout}\n${(await must(run, 'ip', ['-4', 'route', 'show'])).stdout}`.split(/\s+/);
  // "198.18.3.1/30", "198.18.4.0/24" → "198.18.3.", "198.18.4.": the /24s in use here.
  const used = new Set(words.map((w) => /^(\d+\.\d+\.\d+\.)\d/.exec(w)?.[1]).filter(Boolean));
  const out: number[] = [];
  for (let slot = 0; slot < MAX_SLOTS && out.length < count; slot++) {
    if (!ours.includes(slot) && !used.has(slotPrefix(slot)) && claimSlot(slot, stateDir)) out.push(slot);
  }
  if (out.length < count) {
    for (const slot of out) releaseSlot(slot, stateDir);
    throw new HarnessError('every /24 of 198.18.0.0/15 is in use; remove old labs with doctor lab down');
  }
  return out;
}

async function preflight(run: Runner): Promise<void> {
  if (process.getuid && process.getuid() !== 0) {
    throw new HarnessError('the embedded lab needs root (it creates network namespaces); run as root, or point the harness at a real cloud');
  }
  const missing: string[] = [];
  if ((await run('ip', ['-V'])).exitCode !== 0) missing.push('iproute2 (ip)');
  if (!existsSync(SSHD)) missing.push('openssh-server (sshd)');
  if ((await run('ssh-keygen', ['-?'])).exitCode === 127) missing.push('openssh-client (ssh-keygen)');
  if (missing.length) throw new HarnessError(`the embedded lab needs ${missing.join(', ')}; run ./scripts/setup (or apt-get install ${missing.map((m) => m.split(' ')[0]).join(' ')})`);
}

async function must(run: Runner, file: string, args: string[]) {
  const r = await run(file, args);
  if (r.exitCode !== 0) throw new HarnessError(`${file} ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr || r.stdout}`);
  return r;
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

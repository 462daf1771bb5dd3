/**
 * The fault matrix on our own runs (issue 10): cloud faults from the simulated cloud's switches, SSH
 * faults, and process faults (SIGINT, SIGTERM, SIGKILL of `doctor run` at random instants of every
 * phase, then `doctor cleanup`). After every case the checks look from outside: nothing of the run left
 * in the cloud, no host forced down, every lab link up, no fault script, stray process or namespace,
 * and no ledger once `doctor cleanup` has run. Bounded: a fixed list of cases, each with deadlines.
 * Used by test/chaos/chaos.test.ts (a reduced matrix in CI) and scripts/chaos.ts (`npm run chaos`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labUp, readState, rotateHostKey, startCloud, type LabCloud, type LabState } from '../../src/lab/index.js';
import { loadConfig, type RunResults } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { ledgerDir, runCleanup } from '../../src/cli/run.js';
import { createOpenStackClient, loadCredentials } from '../../src/openstack/index.js';
import { labLeftovers, temporaryLab } from '../helpers/hosts.js';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface CaseResult {
  name: string;
  kind: 'cloud' | 'ssh' | 'process';
  where: 'simulated cloud' | 'embedded lab' | 'all-in-one lab';
  verdict: string;
  /** What the checks found left behind (must be empty). */
  leftovers: string[];
  /** `doctor cleanup` was needed (the run could not finish its own cleanup, or was killed). */
  neededCleanup: boolean;
  detail?: string;
  ms: number;
}

export interface MatrixReport {
  seed: number;
  cases: number;
  runs: number;
  leftovers: number;
  crashes: number;
  results: CaseResult[];
}

/** A small seeded PRNG (mulberry32): the same seed gives the same instants. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PHASES = [/starting the embedded lab|provisioning/, /booting/, /ACTIVE/, /injecting/, /waiting for/, /cleaning up/];

interface Env {
  work: string;
  lab: Awaited<ReturnType<typeof temporaryLab>>;
  state: LabState;
  cloud: LabCloud;
  env: NodeJS.ProcessEnv;
  /** What the simulated cloud held before the current case. */
  before: Map<string, Set<string>>;
}

export async function runMatrix(opts: { reduced: boolean; seed?: number; log?: (line: string) => void; openstackConfig?: { cloudsYaml: string; runConfig: string; labStateDir: string } }): Promise<MatrixReport> {
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = prng(seed);
  const log = opts.log ?? (() => {});
  const results: CaseResult[] = [];
  const work = mkdtempSync(join(tmpdir(), 'doctor-chaos-'));
  const lab = await temporaryLab(2, 'doctor-chaos-lab-');
  const e: Env = { work, lab, state: lab.state, cloud: undefined as unknown as LabCloud, env: {}, before: new Map() };
  try {
    e.cloud = await startCloud({ hosts: e.state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })), buildDelayMs: 20 });
    writeFileSync(join(work, 'clouds.yaml'), e.cloud.cloudsYaml('chaos'), { mode: 0o600 });
    e.env = { ...process.env, OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'chaos', XDG_STATE_HOME: join(work, 'state') };
    const record = (r: CaseResult) => {
      results.push(r);
      purge(e);
      log(`${r.leftovers.length ? 'LEFTOVERS' : 'clean    '} ${r.kind.padEnd(7)} ${r.name} on the ${r.where}: ${r.verdict}${r.neededCleanup ? ' (then doctor cleanup)' : ''} ${r.leftovers.join('; ')}`);
    };
    const times = opts.reduced ? 1 : 3;

    // Cloud faults: the simulated cloud's switches, before the run or at one of its phases.
    const cloudFaults: Array<[string, (c: LabCloud) => void, RegExp | undefined]> = [
      ['5xx burst on compute (3 answers of 503)', (c) => c.cloud.faults.failApi('compute', 503, { count: 3 }), /provisioning/],
      ['slow compute and alarming (150 ms each answer)', (c) => { c.cloud.faults.slowApi('compute', 150); c.cloud.faults.slowApi('alarming', 150); }, undefined],
      ['every token revoked during the injection', (c) => void c.cloud.revokeTokens(), /injecting/],
      ['Aodh down (503) from the wait for alarms on', (c) => c.cloud.faults.failApi('alarming', 503), /waiting for/],
      ['Nova refuses a server create (500)', (c) => c.cloud.faults.failApi('compute', 500, { method: 'POST', count: 1, after: 1 }), undefined],
      ['webhooks dropped', (c) => c.cloud.faults.dropWebhooks(), undefined],
    ];
    for (const [name, fault, when] of cloudFaults) {
      for (let i = 0; i < times; i++) record(await inProcess(e, name, 'cloud', { notifyTimeoutS: 3 }, (line) => { if (when?.test(line)) fault(e.cloud); }, when ? undefined : () => fault(e.cloud)));
    }

    // SSH faults: the host's sshd, the key, the host key, the connection during the injection.
    const sshFaults: Array<[string, () => Promise<Record<string, unknown>>, RegExp | undefined, (() => void) | undefined]> = [
      ['sshd stopped on every host', async () => {
        for (const h of e.state.hosts) if (h.sshdPid) process.kill(h.sshdPid, 'SIGTERM');
        return {};
      }, undefined, undefined],
      ['a key no host authorises', async () => {
        const stranger = join(work, 'stranger');
        if (!existsSync(stranger)) await new Promise((r) => spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]).once('exit', r));
        return { sshKey: stranger };
      }, undefined, undefined],
      ['a changed host key', async () => {
        const old = join(work, 'known_hosts.old');
        copyFileSync(e.state.knownHosts, old);
        for (const h of e.state.hosts) await rotateHostKey(e.state, h.name);
        return { knownHosts: old };
      }, undefined, undefined],
      ['the SSH connection cut during the injection (sshd and its sessions killed once the script is uploaded)', async () => ({}), /injecting/, () => void cutOnceUploaded(e)],
    ];
    for (const [name, prepare, when, during] of sshFaults) {
      for (let i = 0; i < times; i++) {
        const extra = await prepare();
        const r = await inProcess(e, name, 'ssh', { notifyTimeoutS: 3, ...extra }, (line) => { if (when?.test(line)) during?.(); });
        record(r);
        await repairLab(e); // sshd back, host keys in known_hosts again
      }
    }

    // Process faults: a signal at a random instant of a random phase, on the configured (simulated) cloud and on the embedded lab.
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGKILL'];
    const perSignal = opts.reduced ? 2 : 6;
    for (const where of ['simulated cloud', 'embedded lab'] as const) {
      for (const sig of signals) {
        for (let i = 0; i < (where === 'embedded lab' && opts.reduced ? 1 : perSignal); i++) {
          const phase = Math.floor(random() * PHASES.length);
          const delayMs = Math.floor(random() * 400);
          record(await asProcess(e, where, sig, phase, delayMs));
        }
      }
    }
    if (opts.openstackConfig) {
      for (const sig of signals) {
        for (let i = 0; i < (opts.reduced ? 1 : 3); i++) {
          const phase = Math.floor(random() * PHASES.length);
          record(await asProcess(e, 'all-in-one lab', sig, phase, Math.floor(random() * 400), opts.openstackConfig));
        }
      }
    }
  } finally {
    await abortRuns();
    await runCleanup(e.env, () => {}).catch(() => 1);
    await e.cloud?.stop();
    await lab.remove();
    rmSync(work, { recursive: true, force: true });
  }
  return {
    seed, cases: new Set(results.map((r) => `${r.where}: ${r.name}`)).size, runs: results.length,
    leftovers: results.reduce((n, r) => n + r.leftovers.length, 0),
    crashes: results.filter((r) => /crash|Unhandled|unexpected error/i.test(r.detail ?? '')).length, results,
  };
}

/** One in-process run against the configured simulated cloud; `onLine` sees its progress, `before` runs first. */
async function inProcess(e: Env, name: string, kind: 'cloud' | 'ssh', flags: Record<string, string | number>, onLine: (line: string) => void, before?: () => void): Promise<CaseResult> {
  const t0 = Date.now();
  e.cloud.cloud.faults.reset();
  snapshot(e);
  before?.();
  const config = loadConfig({
    env: e.env, cwd: e.work, readFile: (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    // The simulated cloud has no controller files to set up.
    flags: { sshKey: e.state.harnessKey, knownHosts: e.state.knownHosts, labStateDir: e.state.stateDir, inspectorPort: 0, consumerPort: 0, resultsDir: join(e.work, 'results'), skipControllerSetup: true, ...flags },
  });
  let r: RunResults | undefined;
  let detail: string | undefined;
  try {
    r = await runFaultManagement(config, { signal: new AbortController().signal, ledgerDir: ledgerDir(e.env), progress: onLine });
  } catch (err) {
    detail = `crash: ${(err as Error).stack ?? String(err)}`;
  }
  e.cloud.cloud.faults.reset();
  const neededCleanup = existsSync(join(ledgerDir(e.env), `${config.runId}.jsonl`));
  if (neededCleanup) await runCleanup(e.env, () => {});
  return { name, kind, where: 'simulated cloud', verdict: r ? `${r.verdict}${r.reason ? `: ${r.reason.slice(0, 160)}` : ''}` : 'crashed', leftovers: leftovers(e, config.runId), neededCleanup, ms: Date.now() - t0, ...(detail ? { detail } : {}) };
}

/** `doctor run` as a process, sent `sig` `delayMs` after it printed the line of `phase`; then doctor cleanup. */
async function asProcess(e: Env, where: CaseResult['where'], sig: NodeJS.Signals, phase: number, delayMs: number, openstack?: { cloudsYaml: string; runConfig: string; labStateDir: string }): Promise<CaseResult> {
  const t0 = Date.now();
  e.cloud.cloud.faults.reset();
  snapshot(e);
  const args = ['run', '--inspector-port', '0', '--consumer-port', '0', '--results-dir', join(e.work, 'cli-results'), '--notify-timeout', '5'];
  let env: NodeJS.ProcessEnv = { ...e.env, OS_CLOUD: '', OS_AUTH_URL: '' };
  if (where === 'simulated cloud') {
    args.push('--ssh-key', e.state.harnessKey, '--known-hosts', e.state.knownHosts, '--lab-state-dir', e.state.stateDir, '--skip-controller-setup');
    env = e.env;
  } else if (openstack) {
    args.push('--config', openstack.runConfig);
    env = { ...e.env, OS_CLIENT_CONFIG_FILE: openstack.cloudsYaml, OS_CLOUD: 'doctor-openstack' };
  }
  const p = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  let sent = false;
  const deadline = Date.now() + 120_000;
  const pattern = PHASES[phase]!;
  while (!sent && Date.now() < deadline) {
    if (pattern.test(out)) {
      await new Promise((r) => setTimeout(r, delayMs));
      sent = p.exitCode === null && p.kill(sig);
      break;
    }
    if (p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  if (!sent && p.exitCode === null) p.kill('SIGKILL');
  const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
  if (p.exitCode === null) p.kill('SIGKILL');
  const runId = /doctor run (\S+):/.exec(out)?.[1] ?? 'unknown';
  const neededCleanup = existsSync(join(ledgerDir(e.env), `${runId}.jsonl`));
  await runCleanup(env, () => {});
  const found = leftovers(e, runId, where === 'simulated cloud');
  if (where === 'embedded lab') {
    const labId = /"labId":\s*"(r[0-9a-f]{4})"/.exec(existsSync(join(e.work, 'cli-results', runId, 'results.json')) ? readFileSync(join(e.work, 'cli-results', runId, 'results.json'), 'utf8') : '')?.[1]
      ?? labIdFromState(join(e.work, 'cli-results', runId, 'lab'));
    if (labId) {
      const left = labLeftovers(labId, join(e.work, 'cli-results', runId, 'lab'));
      for (const [k, v] of Object.entries(left)) if (Array.isArray(v) ? v.length : v) found.push(`embedded lab ${k}: ${JSON.stringify(v)}`);
    }
  }
  if (openstack) {
    found.push(...(await cloudLeftovers(openstack.cloudsYaml, runId)));
    const hosts = readState(openstack.labStateDir);
    if (hosts) found.push(...hostLeftovers(hosts));
  }
  if (/Unhandled|unexpected error/.test(out)) found.push(`the run crashed: ${out.slice(-300)}`);
  const expected: Array<number | null> = sig === 'SIGKILL' ? [null] : [130, 0, 1, 2];
  const detail = sent ? `${sig} ${delayMs} ms after "${pattern.source}"` : `finished before ${sig} (exit ${code})`;
  if (sent && !expected.includes(code)) found.push(`exit ${code} after ${sig}`);
  return { name: `${sig} at a random instant`, kind: 'process', where, verdict: `exit ${code} (${detail})`, leftovers: found, neededCleanup, ms: Date.now() - t0, detail };
}

function labIdFromState(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { labId?: string }).labId;
  } catch {
    return undefined;
  }
}

/**
 * Waits (at most 5 s) for a fault script to appear in a host's folder, i.e. for the injection's SSH
 * session to be up and its upload done, then kills that host's sshd and sessions (not the script).
 */
async function cutOnceUploaded(e: Env): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const host = e.state.hosts.find((h) => existsSync(h.dir) && readdirSync(h.dir).some((f) => /^doctor-fault-.*\.sh$/.test(f)));
    if (host) {
      for (const pid of namespacePids(host.namespace)) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sshd')) process.kill(pid, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** The PIDs in a lab host's namespace (none when it is gone). */
function namespacePids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Brings the lab's sshd back and its known_hosts in line with the host keys (labUp repairs an existing lab). */
async function repairLab(e: Env): Promise<void> {
  e.state = await labUp({ stateDir: e.state.stateDir, hosts: e.state.hosts.length });
}

/** A lab's hosts: every link up, no fault script running. */
function hostLeftovers(state: Pick<LabState, 'hosts'>): string[] {
  const found: string[] = [];
  for (const h of state.hosts) {
    let link: string;
    try {
      link = execFileSync('ip', ['-n', h.namespace, '-o', 'link', 'show', 'dev', h.vethHost], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      found.push(`${h.name}: its namespace or link is gone`);
      continue;
    }
    if (!/[<,]UP[,>]/.test(link)) found.push(`${h.name}: link down`);
    const scripts = namespacePids(h.namespace).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('doctor-fault-');
      } catch {
        return false;
      }
    });
    if (scripts.length) found.push(`${h.name}: fault script still running (PIDs ${scripts.join(', ')})`);
    const files = existsSync(h.dir) ? readdirSync(h.dir).filter((f) => f.startsWith('doctor-fault-')) : [];
    if (files.length) found.push(`${h.name}: fault files left in ${h.dir}: ${files.join(', ')}`);
  }
  return found;
}

/** The simulated cloud's collections a run adds to. */
function collections(e: Env): Array<[string, Map<string, unknown>]> {
  const s = e.cloud.cloud.state;
  return [['projects', s.projects], ['users', s.users], ['servers', s.servers], ['alarms', s.alarms], ['flavors', s.flavors], ['images', s.images]];
}

/** Before a case: what the cloud holds, so a case is charged only with what it left. */
function snapshot(e: Env): void {
  e.before = new Map(collections(e).map(([what, map]) => [what, new Set(map.keys())]));
}

/** After a case was charged: what it left goes (straight from the simulated state), so the next case starts clean. */
function purge(e: Env): void {
  for (const [what, map] of collections(e)) for (const id of [...map.keys()]) if (!e.before.get(what)?.has(id)) map.delete(id);
  for (const svc of e.cloud.cloud.state.services.values()) svc.forcedDown = false;
  for (const h of e.state.hosts) if (existsSync(h.dir)) for (const f of readdirSync(h.dir).filter((x) => x.startsWith('doctor-fault-'))) rmSync(join(h.dir, f), { force: true });
}

/** What a run left in a real cloud (the all-in-one lab), asked as its admin. */
async function cloudLeftovers(cloudsYaml: string, runId: string): Promise<string[]> {
  const admin = createOpenStackClient({ credentials: loadCredentials({ OS_CLIENT_CONFIG_FILE: cloudsYaml }, (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined), 'doctor-openstack') });
  try {
    const name = `doctor-${runId}`;
    const found: string[] = [];
    const servers = await admin.compute.servers.listDetail({ allTenants: true });
    if (servers.length) found.push(`servers: ${servers.map((s) => s.name).join(', ')}`);
    const alarms = await admin.alarming.list({ allProjects: true });
    if (alarms.length) found.push(`alarms: ${alarms.map((a) => a.name).join(', ')}`);
    if (await admin.identity.findProject(name)) found.push(`project ${name}`);
    if (await admin.identity.findUser(name)) found.push(`user ${name}`);
    if (await admin.compute.flavors.findByName(name)) found.push(`flavor ${name}`);
    const down = (await admin.compute.services.list({ binary: 'nova-compute' })).filter((s) => s.forcedDown);
    if (down.length) found.push(`forced-down services: ${down.map((s) => s.host).join(', ')}`);
    return found;
  } finally {
    admin.close();
  }
}

/** What a run left, seen from outside: the cloud, the hosts, the ledger. */
function leftovers(e: Env, runId: string, checkCloud = true): string[] {
  const found: string[] = [];
  if (checkCloud) {
    const s = e.cloud.cloud.state;
    const extra = (what: string, names: string[]) => names.length && found.push(`${what}: ${names.join(', ')}`);
    for (const [what, map] of collections(e)) extra(what, [...map.entries()].filter(([id]) => !e.before.get(what)?.has(id)).map(([, v]) => (v as { name?: string }).name ?? '?'));
    extra('forced-down services', [...s.services.values()].filter((x) => x.forcedDown).map((x) => x.host));
  }
  found.push(...hostLeftovers(e.state));
  const doctors = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${join(ROOT, 'bin/doctor.js')}\0run`) && readFileSync(`/proc/${p}/environ`, 'utf8').includes(e.work);
    } catch {
      return false;
    }
  });
  if (doctors.length) found.push(`doctor run processes still running: ${doctors.join(', ')}`);
  if (existsSync(join(ledgerDir(e.env), `${runId}.jsonl`))) found.push('its ledger, after doctor cleanup');
  return found;
}

/**
 * Where the run happens (DESIGN §8): one seam that answers what the scenario needs from its surroundings,
 * so the run never asks "is this the lab?". Two kinds: the embedded lab (namespace hosts and the simulated
 * cloud, started here), and a configured cloud whose nodes its installer's adapter finds
 * (src/orchestrator/installers). `labStateDir` adds that the computes are namespace hosts of ours (the
 * all-in-one lab's): their link is put back at once, and probes must use the lab's links.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, HarnessError, type Logger } from '../shared/index.js';
import type { CloudCredentials } from '../openstack/index.js';
import { labDown, labRouteGuard, labServiceGuard, labUp, readState, restoreHostLink, startCloud, startCloudProcess, type LabCloud, type LabState, type TracePoint } from '../lab/index.js';
import type { RunConfig } from './config.js';
import type { FaultPlan } from './fault/inject.js';
import type { SshAuth, SshTarget } from './fault/ssh.js';
import { withOverrides, type ControllerLayout, type ControllerNode, type ControllerSession, type ServiceLogs } from './controller/index.js';
import { adapterFor, type NodeAddress } from './installers/index.js';
import type { Ledger } from './ledger.js';

/** A compute host as the run reaches it: where to SSH, and how its link comes back. */
export interface ComputeAccess {
  name: string;
  ip: string;
  ssh: { target: SshTarget; auth: SshAuth };
  /** Where the fault script and its log go on the host (default /tmp). */
  remoteDir?: string;
  /**
   * When the environment can put the link back at once (a namespace host of this machine): how, where the
   * script's log is read, and what the ledger needs for doctor cleanup to do it after a SIGKILL. Without it,
   * the host's own timer restores the link and the run waits for it over SSH.
   */
  restore?: {
    link(plan: FaultPlan): Promise<void>;
    /** Reads the script's log once and removes the script and the log from the host. */
    readLog(plan: FaultPlan): string;
    ledger: { labStateDir: string };
  };
}

export interface Environment {
  /** What it is, for people: "embedded lab", or the installer ("devstack", "local", "apex", "mcp"), "(lab hosts)" when the computes are lab hosts of ours. */
  name: string;
  credentials: CloudCredentials;
  /** What results.json says of the cloud. */
  cloud: { mode: 'lab' | 'cloud'; labId?: string };
  /** One-host placement prefers this compute (the embedded lab's first host). */
  preferHost?: string;
  /** The control-plane nodes (tunnels and controller set-up use them). */
  controllers: NodeAddress[];
  /**
   * Where Aodh runs on nodes that cannot reach this machine's loopback: the run opens a reverse tunnel
   * from each to its consumer, and the alarms call the tunnel's end on the node.
   */
  consumerTunnels?: Array<{ name: string; target: SshTarget; auth: SshAuth }>;
  /** The compute the VMs landed on (Nova's name and host_ip): how to reach it; refuses a host it does not know. */
  compute(host: { name: string; ip: string }): Promise<ComputeAccess>;
  /** Refuses an address the monitor must not probe (and so the run must not SSH to). */
  guard(ip: string): Promise<void>;
  /** The cloud's own record of its hops (checkpoints 5–8), when it is the embedded lab's. */
  trace?: () => Promise<TracePoint[]>;
  /** The cloud's services stamp with this machine's clock (a cloud on loopback). */
  sharedClock: boolean;
  /** The controllers whose files the run sets up (and restores), and where those files are; none: left alone. */
  controllerSetup?: { layout: ControllerLayout; nodes: ControllerNode[] };
  /** Where the controllers' services log what the profile reads (checkpoints 5–7), and how to reach them. */
  serviceLogs?: { logs: ServiceLogs; nodes: ControllerNode[] };
  /** Where the controllers' nova.conf is (the shortcut's transport URL), and how to reach them. */
  novaConf?: { path: string; nodes: ControllerNode[] };
  /** The controllers' services that profile their requests when a run asks (--profile-cloud), and how to reach them. */
  cloudProfile?: { hooks: NonNullable<ControllerLayout['profile']>; nodes: ControllerNode[] };
  /** Refuses a cloud service address the harness must not connect to (lab hosts: only through a lab link). */
  guardService(ip: string): Promise<void>;
}

/** Teardown steps, run in reverse order of registration; see TeardownList. */
export interface TeardownRegistry {
  cleanup(what: string, fn: () => Promise<unknown>): void;
  measure(what: string, fn: () => Promise<unknown>): void;
}

export interface EnvironmentContext {
  config: RunConfig;
  ledger: Ledger;
  teardown: TeardownRegistry;
  progress: (line: string) => void;
  logger: (component: string) => Logger;
  /** Resolves a host name (the local installer's DNS fallback). */
  resolveHost: (name: string) => Promise<string>;
  /** A session on a node (an installer's node, for discovery). */
  session: (node: ControllerNode) => Promise<ControllerSession>;
  /** Sees the embedded cloud once it runs; given, the cloud runs in this process (not in a child). */
  onLabCloud?: (cloud: LabCloud) => void;
}

/** The environment the configuration names; what it starts is on the teardown list before it starts. */
export async function openEnvironment(ctx: EnvironmentContext): Promise<Environment> {
  const { config } = ctx;
  if (config.cloud.mode === 'lab') return embeddedLab(ctx, config.cloud);
  const credentials = config.cloud.credentials;
  ctx.ledger.add({ kind: 'cloud', authUrl: credentials.authUrl, embedded: false, ...(config.cloud.cloudName ? { cloudName: config.cloud.cloudName } : {}) });
  const auth = sshAuthOf(config);
  // Computes that are namespace hosts of ours (the all-in-one lab's): a link comes back at once, probes must use the lab's links.
  const lab = config.labStateDir ? readState(config.labStateDir) : undefined;
  if (config.labStateDir && !lab) throw new ConfigError('labStateDir', `no lab hosts at ${config.labStateDir} (its lab.json is missing): bring the lab up again, or drop the setting`);
  let privateDir: string | undefined;
  const adapter = adapterFor(config, {
    resolveHost: ctx.resolveHost, session: ctx.session, auth,
    privateDir: () => {
      if (!privateDir) {
        const dir = mkdtempSync(join(tmpdir(), 'doctor-nodes-'));
        privateDir = dir;
        ctx.ledger.add({ kind: 'private-dir', path: dir }); // doctor cleanup removes it after a SIGKILL
        ctx.teardown.cleanup('removing the nodes\' fetched keys', async () => rmSync(dir, { recursive: true, force: true }));
      }
      return privateDir;
    },
  });
  const controllers = await adapter.controllers(credentials);
  const access = (await adapter.nodeAccess?.()) ?? { username: config.ssh.user, auth };
  const reach = (ip: string) => ({ target: { host: ip, username: access.username }, auth: access.auth });
  const nodes: ControllerNode[] = controllers.map((c) => ({ ...c, ssh: reach(c.ip) }));
  const probed = new Set<string>();
  const labGuard = lab ? labRouteGuard(lab) : undefined;
  return {
    name: lab ? `${config.installer.type} (lab hosts)` : config.installer.type, credentials, cloud: { mode: 'cloud' }, controllers,
    // Namespace hosts (a lab controller among them) share this machine's clock, wherever their addresses are.
    sharedClock: isLoopback(new URL(credentials.authUrl).hostname) || Boolean(lab?.controller),
    // Aodh on a controller other than this machine cannot call a consumer on its loopback: a reverse tunnel from each.
    ...(isLoopback(config.consumer.host) ? { consumerTunnels: nodes.filter((n) => !isLoopback(n.ip)).map((n) => ({ name: n.name, ...n.ssh })) } : {}),
    ...(nodes.length ? controllerSide(config, await adapter.layout(), nodes) : {}),
    async compute(host) {
      const ip = await adapter.computeAddress(host);
      probed.add(ip);
      return lab ? labCompute(lab, { name: host.name, ip }, reach(ip)) : { name: host.name, ip, ssh: reach(ip) };
    },
    guardService: lab ? labServiceGuard(lab) : async () => {},
    async guard(ip) {
      if (labGuard) return labGuard(ip);
      if (!probed.has(ip)) throw new HarnessError(`refusing to probe ${ip}: it is not a compute host the ${config.installer.type} installer named`);
    },
  };
}

async function embeddedLab(ctx: EnvironmentContext, c: Extract<RunConfig['cloud'], { mode: 'lab' }>): Promise<Environment> {
  const { config, ledger, teardown } = ctx;
  const stateDir = join(config.resultsDir, 'lab');
  ledger.add({ kind: 'lab', stateDir });
  teardown.cleanup('removing the lab hosts', () => labDown({ stateDir }));
  ctx.progress(`starting the embedded lab (${c.hosts} compute hosts)`);
  const state = await labUp({ stateDir, labId: `r${randomBytes(2).toString('hex')}`, hosts: c.hosts });
  const hosts = state.hosts.map((h) => ({ name: h.name, ip: h.hostIp }));
  let credentials: CloudCredentials;
  let trace: () => Promise<TracePoint[]>;
  if (ctx.onLabCloud) {
    // A caller that looks inside the cloud (tests: its state, its fault switches) gets it in this process.
    const cloud = await startCloud({ hosts, buildDelayMs: 100, latency: c.latency, logger: ctx.logger('lab-cloud') });
    teardown.cleanup('stopping the simulated cloud', () => cloud.stop());
    if (c.dropWebhooks) cloud.cloud.faults.dropWebhooks();
    ctx.onLabCloud(cloud);
    credentials = cloud.credentials();
    trace = async () => cloud.cloud.trace.slice();
  } else {
    // Otherwise in a process of its own, so that what the run measures of itself is the harness's cost alone.
    // Beside the run's ledger (0700), named by the run, not in /tmp: a run killed before it could note the
    // folder still leaves it where doctor cleanup looks for it, and a state folder that goes takes it along.
    const dir = mkdtempSync(join(dirname(ledger.path), `${config.runId}.cloud-`));
    ledger.add({ kind: 'private-dir', path: dir });
    teardown.cleanup('removing the simulated cloud\'s folder', async () => rmSync(dir, { recursive: true, force: true }));
    const log = ctx.logger('lab-cloud');
    const cloud = await startCloudProcess({ hosts, buildDelayMs: 100, latency: c.latency, stateDir: dir, onLine: (line) => log.info({ line }, 'doctor lab cloud') });
    ledger.add({ kind: 'process', what: 'the simulated cloud', pid: cloud.pid, ...(cloud.processStart ? { processStart: cloud.processStart } : {}) });
    teardown.cleanup('stopping the simulated cloud', () => cloud.stop());
    if (c.dropWebhooks) await cloud.dropWebhooks();
    credentials = cloud.credentials();
    trace = () => cloud.trace();
  }
  ledger.add({ kind: 'cloud', authUrl: credentials.authUrl, embedded: true });
  const ssh = (ip: string) => ({ target: { host: ip, username: config.ssh.user }, auth: { privateKeyPath: state.harnessKey, knownHostsPath: state.knownHosts } });
  return {
    name: 'embedded lab', credentials, cloud: { mode: 'lab', labId: state.labId }, preferHost: state.hosts[0]!.name,
    controllers: [], sharedClock: true, trace,
    guard: labRouteGuard(state),
    guardService: labServiceGuard(state),
    compute: async (host) => labCompute(state, host, ssh(host.ip)),
  };
}

/** The controllers' set-up (unless skipped) and the service logs their layout names. */
function controllerSide(config: RunConfig, installerLayout: ControllerLayout, nodes: ControllerNode[]): Pick<Environment, 'controllerSetup' | 'serviceLogs' | 'novaConf' | 'cloudProfile'> {
  const layout = withOverrides(installerLayout, config.controller.layout);
  return {
    ...(config.controller.setup ? { controllerSetup: { layout, nodes } } : {}),
    ...(layout.logs && Object.values(layout.logs).some(Boolean) ? { serviceLogs: { logs: layout.logs, nodes } } : {}),
    novaConf: { path: layout.novaConf, nodes },
    ...(layout.profile && Object.values(layout.profile).some(Boolean) ? { cloudProfile: { hooks: layout.profile, nodes } } : {}),
  };
}

/** A compute that is a namespace host of this machine: its link is put back at once, its script's log read here. */
function labCompute(state: LabState, host: { name: string; ip: string }, ssh: ComputeAccess['ssh']): ComputeAccess {
  const h = state.hosts.find((x) => x.hostIp === host.ip);
  if (!h) throw new HarnessError(`the VMs' host ${host.name} (${host.ip}) is not one of the lab hosts (${state.hosts.map((x) => `${x.name}=${x.hostIp}`).join(', ')})`);
  return {
    // The host's folder is root's: another user (heat-admin) writes the script to /tmp, which the host shares with this machine.
    name: host.name, ip: host.ip, ssh, ...((ssh.target.username ?? 'root') === 'root' ? { remoteDir: h.dir } : {}),
    restore: {
      link: async (plan) => {
        await restoreHostLink(h, { stopping: plan.scriptPath });
      },
      readLog: (plan) => {
        try {
          return readFileSync(plan.logPath, 'utf8');
        } finally {
          for (const f of [plan.scriptPath, plan.logPath, `${plan.scriptPath}.frozen`]) rmSync(f, { force: true }); // read once (or never started): no trace left on the host
        }
      },
      ledger: { labStateDir: state.stateDir },
    },
  };
}

function sshAuthOf(config: RunConfig): SshAuth {
  return {
    privateKeyPath: config.ssh.keyPath!, insecureSkipHostKeyCheck: config.ssh.insecureSkipHostKeyCheck,
    ...(config.ssh.knownHostsPath ? { knownHostsPath: config.ssh.knownHostsPath } : {}),
  };
}

export function isLoopback(hostname: string): boolean {
  return ['localhost', '[::1]', '::1'].includes(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

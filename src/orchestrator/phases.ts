/**
 * The phases of the fault-management run (DESIGN §1), each a function with a typed result. What a phase
 * starts goes on the run's teardown list before it starts; what it observes goes to `ctx.seen` for the
 * measure phase. None of them knows where the run happens: that is the Environment's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FaultInjectionError, HarnessError, listen, type Logger, mapLimit, preciseNow, within } from '../shared/index.js';
import {
  buildProfile, cloudInstantsFromTrace, type EnergyRecorder, fetchTrace, firedFromHistory, junitFor, pushResult, renderHtml, resetSpan, round,
  type ClockReading, type CloudInstants, type Profile,
} from '../profiler/index.js';
import { createOpenStackClient, newTraceId, type OpenStackClient } from '../openstack/index.js';
import { Consumer, createConsumerApp, type ReceivedAlarm } from '../consumer/index.js';
import { createInspectorApp, Inspector } from '../inspector/index.js';
import { DOCTOR_PROFILE, FAST_PROFILE, InspectorReporter, Monitor, type HostDownEvent, type ReportResult } from '../monitor/index.js';
import type { RunConfig } from './config.js';
import type { ComputeAccess, Environment, TeardownRegistry } from './environment.js';
import { parseFaultLog, planFault, type FaultRequest } from './fault/inject.js';
import { faultLabel } from './fault/kinds.js';
import { powerCommand, runPower, startPowerOnTimer, stopPowerOnTimer, type PowerCall, type PowerDriver } from './fault/power.js';
import type { ClockOffset } from './fault/clock.js';
import { asRoot, restoreController, setUpController, type ControllerFileChange, type ControllerNode, type ControllerSession } from './controller/index.js';
import { cloudEntries, type Ledger } from './ledger.js';
import { cloudFromLogs } from './cloud-logs.js';
import { startCloudProfile, type cloudProfileHooks } from './cloud-profile.js';
import { openShortcut } from './shortcut.js';
import { startInspectorCommand } from './inspector-command.js';
import type { componentLoggers } from './logs.js';
import { provision, type Provisioned } from './provision.js';
import type { RunEdges } from './edges.js';
import type { RunDeps, RunResults, VmResult } from './results.js';
import { removeResources } from './teardown.js';

type Kind = 'cleanup' | 'measure';

/**
 * The run's named teardown list. Steps run in reverse order of registration, then the `last` ones:
 * a cleanup step undoes what the run did (its failure is a cleanup error and keeps the ledger); a
 * measure step reads what the run observed (its failure is a missing checkpoint).
 */
export class TeardownList implements TeardownRegistry {
  private readonly steps: Array<{ what: string; fn: () => Promise<unknown>; kind: Kind }> = [];
  private readonly after: Array<{ what: string; fn: () => Promise<unknown> }> = [];

  constructor(private readonly log: Logger) {}

  cleanup(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn, kind: 'cleanup' });
  }

  measure(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn, kind: 'measure' });
  }

  /** A cleanup step after all the others (waiting for a host to come back by itself). */
  last(what: string, fn: () => Promise<unknown>): void {
    this.after.push({ what, fn });
  }

  async run(): Promise<{ errors: string[]; unobserved: string[] }> {
    const errors: string[] = [];
    const unobserved: string[] = [];
    for (const s of [...[...this.steps].reverse(), ...this.after.map((a) => ({ ...a, kind: 'cleanup' as Kind }))]) {
      try {
        await s.fn();
      } catch (err) {
        (s.kind === 'measure' ? unobserved : errors).push(`${s.what}: ${(err as Error).message}`);
        this.log.error({ step: s.what, err: (err as Error).message }, 'teardown step failed');
      }
    }
    return { errors, unobserved };
  }
}

/** What the run observed along the way: the profile is built from it once the fault log is in. */
export interface Observations {
  hostClock?: ClockOffset;
  cloudInstants: Map<string, CloudInstants>;
  cloudMissing: string;
  /** Why one cloud checkpoint is missing, where its source says more than cloudMissing. */
  cloudMissingBy: Partial<Record<5 | 6 | 7 | 8, string>>;
  /** The controllers' clocks, where their logs gave instants. */
  cloudClocks: ClockReading[];
  consumerHandled: Map<string, number>;
  resetSpans: Map<string, { startedAt: number; finishedAt: number; source: string; clock: string }>;
  affected: Array<{ vmId: string; name: string; alarmId: string }>;
  hostDownMissing?: string;
  /** When the environment put the link back (harness clock), before the fault script's own timer. */
  linkRestoredAt?: number;
}

export interface RunContext {
  config: RunConfig;
  deps: RunDeps;
  signal: AbortSignal;
  progress: (line: string) => void;
  logs: ReturnType<typeof componentLoggers>;
  log: Logger;
  ledger: Ledger;
  teardown: TeardownList;
  results: RunResults;
  edges: RunEdges;
  energy?: EnergyRecorder;
  seen: Observations;
}

export interface Services {
  admin: OpenStackClient;
  consumer: Consumer;
  /** The URL the alarms call. */
  consumerUrl: string;
  /** The run's OSProfiler trace id (a key in OS_PROFILE or clouds.yaml); none: no profiling, quietly. */
  traceId?: string;
}

/** 2. The admin client and the consumer (Aodh needs its URL before the alarms exist). */
export async function startServices(ctx: RunContext, env: Environment): Promise<Services> {
  const { config, results, teardown, logs } = ctx;
  const traceId = env.credentials.profileKey ? newTraceId() : undefined;
  if (traceId) {
    results.osprofiler = { traceId };
    ctx.progress(`OSProfiler trace ${traceId}`);
  }
  const admin = createOpenStackClient({ credentials: env.credentials, logger: logs.get('openstack'), ...(traceId ? { traceId } : {}) });
  teardown.cleanup('closing the admin client', async () => admin.close());
  // Undone in reverse: after the services stop (force-down cleared) and before the client closes.
  teardown.cleanup('removing the test resources', async () => {
    const errs = await removeResources(admin, cloudEntries(ctx.ledger.list()));
    if (errs.length) throw new HarnessError(errs.join('; '));
  });
  const consumer = new Consumer({ logger: logs.get('consumer') });
  const consumerSvc = await listen(createConsumerApp(consumer, preciseNow), { ...config.consumer, name: 'the consumer' });
  teardown.cleanup('stopping the consumer', () => consumerSvc.close());
  let consumerUrl = `${consumerSvc.url}/failure`;
  if (env.consumerTunnels?.length) {
    // Aodh runs where this machine's loopback is out of reach: the alarms call the tunnel's end on its node.
    const local = new URL(consumerSvc.url);
    const port = Number(local.port);
    const tunnels: NonNullable<RunResults['environment']>['tunnels'] = [];
    results.environment = { ...results.environment!, tunnels };
    for (const node of env.consumerTunnels) {
      ctx.progress(`opening a reverse tunnel from ${node.name} (${node.target.host}) to the consumer (127.0.0.1:${port})`);
      const t = await ctx.edges.tunnel({ target: node.target, auth: node.auth, remote: { port }, local: { host: local.hostname, port }, logger: ctx.log });
      const record = { node: node.name, remote: `127.0.0.1:${port}`, reconnects: 0 };
      tunnels.push(record);
      teardown.cleanup(`closing the tunnel from ${node.name}`, async () => {
        record.reconnects = t.reconnects;
        await t.close();
      });
    }
    consumerUrl = `http://127.0.0.1:${port}/failure`;
  }
  return { admin, consumer, consumerUrl, ...(traceId ? { traceId } : {}) };
}

/** A session on a controller, as root (through sudo for another user). */
async function controllerSession(ctx: RunContext, node: ControllerNode): Promise<ControllerSession> {
  return asRoot(await ctx.edges.controller(node, ctx.log), node.ssh.target.username);
}

/**
 * 2b. What the scenario needs of each controller's configuration (the alarm sink, the traits, the cache
 * TTL), only the services whose files changed restarted; every file is put back at teardown, and each is
 * in the ledger before it is touched, so doctor cleanup puts it back after a SIGKILL.
 */
export async function prepareControllers(ctx: RunContext, env: Environment): Promise<void> {
  const setup = env.controllerSetup;
  if (!setup) return;
  ctx.signal.throwIfAborted();
  const records: NonNullable<NonNullable<RunResults['environment']>['controllerSetup']> = [];
  ctx.results.environment = { ...ctx.results.environment!, controllerSetup: records };
  await Promise.all(setup.nodes.map(async (node) => {
    const record: (typeof records)[number] = { node: node.name, changed: [], restarted: [], restored: [] };
    records.push(record);
    const changes: ControllerFileChange[] = [];
    const where = `${node.name} (${node.ip})`;
    ctx.teardown.cleanup(`restoring the files of ${where}`, async () => {
      if (!changes.length) return;
      ctx.progress(`restoring ${changes.map((c) => c.path).join(', ')} on ${where}`);
      const t0 = Date.now();
      const ssh = await controllerSession(ctx, node);
      try {
        record.restored = (await restoreController(ssh, changes, setup.layout.restart)).restored;
        record.restoreMs = Date.now() - t0;
      } finally {
        ssh.close();
      }
    });
    const t0 = Date.now();
    const ssh = await controllerSession(ctx, node).catch((err: Error) => {
      throw new HarnessError(
        `cannot set up ${where}: ${err.message}; it needs SSH as ${node.ssh.target.username ?? 'root'} with the compute hosts' key, or --skip-controller-setup when the cloud already publishes events to notifier://?topic=alarm.all with event_alarm_cache_ttl = 0`,
        { cause: err },
      );
    });
    try {
      const { auth, target } = node.ssh;
      const r = await setUpController(ssh, setup.layout, ctx.config.runId, (c) => {
        changes.push(c);
        ctx.ledger.add({
          kind: 'controller-file', host: node.name, ip: node.ip, username: target.username ?? 'root', keyPath: auth.privateKeyPath,
          ...(auth.knownHostsPath ? { knownHostsPath: auth.knownHostsPath } : {}), ...(auth.insecureSkipHostKeyCheck ? { insecureSkipHostKeyCheck: true } : {}),
          path: c.path, backup: c.backup, service: c.service, restart: setup.layout.restart[c.service],
        });
        ctx.progress(`setting up ${where}: ${c.what} in ${c.path}`);
      }, (services) => ctx.progress(`restarting ${services.join(', ')} on ${where}`));
      record.changed = r.changed.map((c) => ({ path: c.path, what: c.what }));
      record.restarted = r.restarted;
      record.setupMs = Date.now() - t0;
      if (!r.changed.length) ctx.progress(`${where} is already set up: nothing to change`);
    } finally {
      ssh.close();
    }
  }));
}

/** 3. The test tenant, its VMs and their alarms. */
export async function provisionVms(ctx: RunContext, env: Environment, s: Services): Promise<Provisioned> {
  const { config, results } = ctx;
  ctx.signal.throwIfAborted();
  ctx.progress(`provisioning ${config.vmCount} VM(s) through ${env.credentials.authUrl}`);
  await ctx.energy?.step('provision');
  const p = await provision(s.admin, env.credentials, ctx.ledger, {
    runId: config.runId, vmCount: config.vmCount, placement: config.placement, imageName: config.imageName,
    consumerUrl: s.consumerUrl, activeTimeoutS: config.activeTimeoutS, signal: ctx.signal, progress: ctx.progress, logger: ctx.logs.get('openstack'),
    ...(env.preferHost ? { preferHost: env.preferHost } : {}), ...(s.traceId ? { traceId: s.traceId } : {}),
  });
  ctx.teardown.cleanup('closing the test clients', async () => p.closeClients());
  results.cloud = { ...env.cloud, computeMicroversion: p.computeMicroversion };
  results.host = { name: p.host, ip: p.hostIp, fault: faultLabel(ctx.config.fault) };
  return p;
}

export interface Armed {
  /** The built-in inspector; none with --inspector-command. */
  inspector?: Inspector;
  compute: ComputeAccess;
  detected: Promise<HostDownEvent>;
  /** The monitor's report to the inspector, once it saw the host go down. */
  report(): Promise<ReportResult> | undefined;
}

/** 4. The inspector, then the monitor on the VMs' host; refuses to go on without ICMP and SSH to it. */
export async function armMonitor(ctx: RunContext, env: Environment, s: Services, p: Provisioned): Promise<Armed> {
  const { config, teardown, logs } = ctx;
  ctx.signal.throwIfAborted();
  const own = config.inspector.command ? await startOwnInspector(ctx, env, config.inspector.command) : undefined;
  const builtIn = own ? undefined : await startBuiltInInspector(ctx, env, s);
  const { url: inspectorUrl, token } = own ?? builtIn!;
  const inspector = builtIn?.inspector;

  const compute = await env.compute({ name: p.host, ip: p.hostIp });
  ctx.results.host = { name: compute.name, ip: compute.ip, fault: faultLabel(ctx.config.fault) };
  // The environment's guard refuses an address it must not probe: before any probe, and so before any SSH to it.
  const transport = await ctx.edges.openIcmp();
  ctx.results.monitor = { profile: config.profile, transport: transport.kind ?? 'injected (a test\'s)' };
  const monitor = new Monitor({
    hosts: [{ name: compute.name, ip: compute.ip }], transport, ...(config.profile === 'fast' ? FAST_PROFILE : DOCTOR_PROFILE),
    logger: logs.get('monitor'), guard: async (ips) => {
      for (const ip of ips) await env.guard(ip);
    },
  });
  const reporter = new InspectorReporter({ url: inspectorUrl, ...(token ? { token } : {}), logger: logs.get('monitor') });
  await reporter.warm();
  let report: Promise<ReportResult> | undefined;
  const detected = new Promise<HostDownEvent>((resolve) => {
    monitor.once('down', (e: HostDownEvent) => {
      report = reporter.report(e.host, e.detectedAt);
      resolve(e);
    });
  });
  await monitor.start();
  teardown.cleanup('stopping the monitor', async () => monitor.stop());
  // Safety first: no fault on a host the run cannot see answer (ICMP) and cannot reach to put things right (SSH).
  try {
    await monitor.ready(10_000);
  } catch (err) {
    throw new FaultInjectionError(`refusing to inject: ${(err as Error).message}`, { cause: err });
  }
  const clock = await ctx.edges.faults.reach(compute, ctx.log);
  if (clock) {
    ctx.seen.hostClock = clock;
    ctx.log.info({ host: compute.name, ...clock }, 'host clock measured');
  }
  return { ...(inspector ? { inspector } : {}), compute, detected, report: () => report };
}

/** The sample inspector, in this process; only the run's monitor may send it events (a token it alone knows, unless the user gave one). */
async function startBuiltInInspector(ctx: RunContext, env: Environment, s: Services): Promise<{ inspector: Inspector; url: string; token: string }> {
  const { config, teardown, logs } = ctx;
  const shortcut = config.shortcut ? await openShortcut(ctx, env) : undefined;
  const inspector = new Inspector(s.admin.compute, { logger: logs.get('inspector'), concurrency: config.inspector.concurrency, traceResets: config.inspector.traceResets, ...(shortcut ? { shortcut } : {}) });
  await inspector.prime();
  const token = config.inspector.token ?? randomBytes(24).toString('base64url');
  const svc = await listen(createInspectorApp(inspector, { token }), { host: config.inspector.host, port: config.inspector.port, name: 'the inspector' });
  teardown.cleanup('stopping the inspector', () => svc.close());
  teardown.cleanup('clearing force-down', async () => {
    const errs = await inspector.stop();
    if (errs.length) throw new HarnessError(errs.join('; '));
  });
  return { inspector, url: svc.url, token };
}

/**
 * `--inspector-command`: the user's inspector, started now that the VMs and alarms exist (where Doctor's
 * harness starts its own, whose VM cache is built at start), stopped at the end by its process group.
 */
async function startOwnInspector(ctx: RunContext, env: Environment, command: string): Promise<{ url: string; token?: string }> {
  const { config, teardown, ledger, results } = ctx;
  ctx.progress(`starting your inspector: ${command}`);
  const own = await startInspectorCommand({
    command, host: config.inspector.host, port: config.inspector.port, credentials: env.credentials, logger: ctx.logs.get('inspector'), signal: ctx.signal,
  });
  ledger.add({ kind: 'process', what: 'the inspector command', pid: own.pid, group: true, ...(own.processStart ? { processStart: own.processStart } : {}) });
  results.inspectorCommand = { command, url: own.url, pid: own.pid };
  // The force-down it sets is cleared with the test resources (the fault's ledger entry), whatever it does on stop.
  teardown.cleanup('stopping your inspector', async () => {
    await own.stop();
    const exit = own.exit();
    if (exit) results.inspectorCommand = { ...results.inspectorCommand!, exit };
  });
  return { url: own.url, ...(config.inspector.token ? { token: config.inspector.token } : {}) };
}

/**
 * 4b. `--profile-cloud`: the controllers' services profile themselves from now until the alarms are in
 * (at the latest until the fault and the notification deadline are over: the flags expire by themselves).
 * Returns what collects the profiles; the teardown switches them off if the run ends first.
 */
export async function armCloudProfile(ctx: RunContext, profiled: NonNullable<ReturnType<typeof cloudProfileHooks>>): Promise<() => Promise<void>> {
  const { config } = ctx;
  const names = profiled.hooks.map((h) => h.service).join(', ');
  const profilers = profiled.hooks.length === 1 ? `${names}'s profiler` : `the profilers of ${names}`;
  ctx.progress(`switching ${profilers} on on ${profiled.nodes.map((n) => n.name).join(', ')} for the fault window`);
  const window = await startCloudProfile({
    runId: config.runId, hooks: profiled.hooks, nodes: profiled.nodes, resultsDir: config.resultsDir,
    untilS: Date.now() / 1000 + config.faultDurationS + config.notifyTimeoutS + 120,
    session: (node) => controllerSession(ctx, node),
  });
  ctx.teardown.cleanup(`switching ${profilers} off`, () => window.off());
  return async () => {
    ctx.progress(`collecting the profiles of ${names}`);
    const profiles = await window.finish();
    ctx.results.cloudProfile = profiles;
    for (const p of profiles) if (p.error) ctx.log.warn({ service: p.service, node: p.node, err: p.error }, 'no profile');
  };
}

/** 5. The link-down on the host, until the monitor sees it. */
export async function injectFault(ctx: RunContext, armed: Armed, p: Provisioned): Promise<HostDownEvent> {
  const { config, results, teardown, seen } = ctx;
  const { compute } = armed;
  ctx.signal.throwIfAborted();
  ctx.ledger.add({ kind: 'forced-down', host: p.host }); // the inspector will force it down: doctor cleanup must undo that
  ctx.progress(`injecting a ${config.faultDurationS} s ${faultLabel(config.fault)} on ${compute.name} (${compute.ip})${config.power ? ' through the power driver' : ''}`);
  await ctx.energy?.step('inject');
  if (config.fault.kind === 'power-off' && config.power) return powerOff(ctx, armed, config.power);
  const request: FaultRequest = { target: compute.ssh.target, computeIp: compute.ip, fault: config.fault, durationS: config.faultDurationS, ...(compute.remoteDir ? { remoteDir: compute.remoteDir } : {}) };
  const plan = planFault(request);
  const restore = compute.restore;
  if (restore) {
    teardown.measure('reading the fault log', async () => {
      const { raw: _raw, ...rest } = parseFaultLog(restore.readLog(plan));
      results.faultLog = { ...rest, ...(seen.linkRestoredAt !== undefined ? { restoredAt: round(seen.linkRestoredAt) } : {}) };
      if (rest.downAt === undefined) seen.hostDownMissing = rest.error ? `the fault script failed: ${rest.error}` : `the fault script had not made its ${faultLabel(config.fault)} when the run ended`;
    });
    // Put the link back as soon as the run is done with it (registered before the injection, so a failure
    // or an interruption halfway through it is undone too).
    teardown.cleanup('restoring the lab link', async () => {
      await restore.link(plan);
      seen.linkRestoredAt = preciseNow();
    });
  }
  // Before the script starts: a run killed from here on leaves doctor cleanup what it needs to put the link back.
  ctx.ledger.add({
    kind: 'fault', host: compute.name, ip: compute.ip, scriptPath: plan.scriptPath, logPath: plan.logPath,
    until: new Date(Date.now() + (config.faultDurationS + 10) * 1000).toISOString(), ...(restore ? restore.ledger : {}),
  });
  void ctx.energy?.step('detect'); // not awaited: the detection must not wait on the recorder
  await ctx.edges.faults.inject(compute, plan, request);
  if (!restore) {
    // Nobody but the host's own timer brings the link back: wait for it, and read when it went down and up.
    teardown.last('waiting for the link to come back', async () => {
      const { raw: _raw, ...rest } = await ctx.edges.faults.awaitRestored(compute, plan, Date.now() + (config.faultDurationS + 120) * 1000);
      results.faultLog = rest;
    });
  }
  const down = await within(armed.detected, Math.min(config.faultDurationS, 30) * 1000, `the monitor did not see ${compute.name} go down`, ctx.signal);
  results.detection = { detectedAt: down.detectedAt };
  void ctx.energy?.step('notify');
  return down;
}

/**
 * 5, through a power driver: the host powered off by the user's own command, on this machine. The
 * host cannot put itself back, so the run powers it on as soon as it is done with it; should the
 * run die, a timer of its own does after the fault's duration, and doctor cleanup does (the ledger).
 * The power went off while the off command ran: checkpoint 0 is its midpoint, ± half its time.
 */
async function powerOff(ctx: RunContext, armed: Armed, driver: PowerDriver): Promise<HostDownEvent> {
  const { config, results, teardown, seen } = ctx;
  const target = { host: armed.compute.name, ip: armed.compute.ip };
  powerCommand(driver.off, target); // a name the command line cannot take is refused before anything runs
  const calls: PowerCall[] = [];
  const log: NonNullable<RunResults['faultLog']> = { fault: 'power-off', clock: 'harness', power: calls };
  results.faultLog = log;
  const timer = startPowerOnTimer(driver, target, config.faultDurationS);
  ctx.ledger.add({ kind: 'power-off', host: target.host, ip: target.ip, on: driver.on, timerPid: timer.pid, ...(timer.processStart ? { timerStart: timer.processStart } : {}) });
  teardown.cleanup(`powering ${target.host} on`, async () => {
    stopPowerOnTimer(timer);
    const on = await runPower(driver.on, 'on', target, ctx.edges.runProcess);
    calls.push(on);
    if (on.exitCode !== 0) throw new HarnessError(`the power-on command for ${target.host} failed (exit ${on.exitCode})${on.output ? `: ${on.output}` : ''}`);
    log.upAt = round((on.startedAt + on.endedAt) / 2);
    log.restoredAt = round(on.endedAt);
  });
  void ctx.energy?.step('detect'); // not awaited: the detection must not wait on the recorder
  const off = await runPower(driver.off, 'off', target, ctx.edges.runProcess);
  calls.push(off);
  if (off.exitCode !== 0) {
    seen.hostDownMissing = `the power-off command failed (exit ${off.exitCode})`;
    throw new FaultInjectionError(`the power-off command for ${target.host} failed (exit ${off.exitCode})${off.output ? `: ${off.output}` : ''}`);
  }
  log.downAt = round((off.startedAt + off.endedAt) / 2);
  log.downUncertaintyMs = round((off.endedAt - off.startedAt) / 2);
  const down = await within(armed.detected, Math.min(config.faultDurationS, 30) * 1000, `the monitor did not see ${armed.compute.name} go down`, ctx.signal);
  results.detection = { detectedAt: down.detectedAt };
  void ctx.energy?.step('notify');
  return down;
}

/** 6. Every expected alarm, with a deadline; then the cloud's own record of them (checkpoints 5–8). */
export async function awaitNotifications(ctx: RunContext, env: Environment, s: Services, armed: Armed, p: Provisioned, down: HostDownEvent): Promise<string | undefined> {
  const { config, results, seen, deps } = ctx;
  ctx.signal.throwIfAborted();
  ctx.progress(`${p.host} down, detected; waiting for ${p.affected.length} alarm(s)`);
  const expected = p.affected.map((vm) => ({ vm, alarmId: p.alarms.get(vm.id)! }));
  let missing: string | undefined;
  const waitStarted = Date.now();
  const ticker = deps.status
    ? setInterval(() => deps.status!(`alarms received: ${s.consumer.received().length}/${expected.length} (${((Date.now() - waitStarted) / 1000).toFixed(1)} s of ${config.notifyTimeoutS} s)`), 200)
    : undefined;
  try {
    await s.consumer.waitFor(expected.map((e) => e.alarmId), config.notifyTimeoutS * 1000, ctx.signal);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const r = await armed.report();
    missing = `${(err as Error).message}${r && !r.ok ? ` (the monitor could not report to the inspector: ${r.error})` : ''}`;
  } finally {
    clearInterval(ticker);
    deps.status?.('');
  }
  const got = new Map<string, ReceivedAlarm>(s.consumer.received().map((a) => [a.alarmId, a]));
  for (const a of got.values()) seen.consumerHandled.set(a.alarmId, a.handledAt);
  const perVm: VmResult[] = expected.map(({ vm, alarmId }) => {
    const a = got.get(alarmId);
    return {
      vmId: vm.id, name: vm.name, alarmId, duplicates: a ? a.count - 1 : 0,
      ...(a ? { notifiedAt: a.firstAt, notificationMs: round(a.firstAt - down.detectedAt) } : {}),
    };
  });
  const times = perVm.flatMap((v) => (v.notificationMs === undefined ? [] : [v.notificationMs])).sort((a, b) => a - b);
  results.notifications = { expected: expected.length, received: times.length, perVm, ...(times.length ? { firstMs: times[0]!, lastMs: times.at(-1)! } : {}) };
  const handled = armed.inspector?.records()[0];
  if (handled) results.inspector = handled;
  if (results.osprofiler && handled) results.osprofiler.resetsTraced = handled.vms.filter((v) => v.traced !== false).length;
  if (results.shortcut) {
    const vms = results.inspector?.vms ?? [];
    const dup = perVm.filter((v) => v.duplicates > 0);
    Object.assign(results.shortcut, {
      published: vms.filter((v) => v.shortcut?.sentAt !== undefined && !v.shortcut.error).length, failed: vms.filter((v) => v.shortcut?.error).length,
      duplicatedAlarms: dup.length, duplicatePosts: dup.reduce((n, v) => n + v.duplicates, 0),
    });
  }
  seen.affected = expected.map((e) => ({ vmId: e.vm.id, name: e.vm.name, alarmId: e.alarmId }));
  await observeCloud(ctx, env, seen.affected, p.member);
  const rep = await armed.report();
  if (rep && results.detection) results.detection.report = { ok: rep.ok, attempts: rep.attempts, ...(rep.status ? { status: rep.status } : {}), ...(rep.error ? { error: rep.error } : {}) };
  return missing;
}

/** Checkpoints 5–8: the cloud's own trace when it runs here; else Aodh's alarm history (8) and OSProfiler. */
async function observeCloud(ctx: RunContext, env: Environment, vms: Array<{ vmId: string; alarmId: string }>, member: Provisioned['member']): Promise<void> {
  const { seen, results, config, log } = ctx;
  if (env.trace) {
    let trace: Awaited<ReturnType<typeof env.trace>>;
    try {
      trace = await env.trace();
    } catch (err) {
      seen.cloudMissing = `the simulated cloud's trace could not be read: ${(err as Error).message}`;
      log.warn({ err: (err as Error).message }, 'could not read the simulated cloud\'s trace');
      return;
    }
    for (const v of vms) seen.cloudInstants.set(v.vmId, cloudInstantsFromTrace(trace, v.vmId, v.alarmId));
    return;
  }
  seen.cloudMissing = 'not observable from outside this cloud (service logs and OSProfiler not read)';
  const clock = env.sharedClock ? { name: 'this machine', offsetMs: 0, uncertaintyMs: 0 } : { name: 'the cloud' };
  await mapLimit(vms, 8, async (v) => {
    try {
      const fired = firedFromHistory(await member.alarming.history(v.alarmId), clock);
      if (fired) seen.cloudInstants.set(v.vmId, { 8: fired });
    } catch (err) {
      log.warn({ alarm: v.alarmId, err: (err as Error).message }, 'could not read the alarm history');
    }
  });
  // 5–7 from the services' logs on the controllers (the set-up turned on the DEBUG lines of 5 and 6).
  if (env.serviceLogs) {
    const shortcut = new Map((results.inspector?.vms ?? []).flatMap((v) => (v.shortcut?.sentAt !== undefined && v.shortcut.uniqueId ? [[v.shortcut.uniqueId, { vmId: v.id, sentAt: v.shortcut.sentAt }] as const] : [])));
    const got = await cloudFromLogs({
      ...env.serviceLogs, vms, sharedClock: env.sharedClock, log: ctx.log, session: (node) => ctx.edges.controller(node, ctx.log), ...(shortcut.size ? { shortcut } : {}),
    });
    for (const [vmId, c] of got.instants) seen.cloudInstants.set(vmId, { ...seen.cloudInstants.get(vmId), ...c });
    seen.cloudMissingBy = { ...seen.cloudMissingBy, ...got.missing };
    seen.cloudClocks.push(...got.clocks);
  }
  // OSProfiler: nova-api's span of each reset request (under 4); the notification (5) leaves inside it, unmarked.
  if (results.osprofiler && config.osprofilerConnection) {
    try {
      const spans = await fetchTrace(results.osprofiler.traceId, config.osprofilerConnection, ctx.edges.runProcess);
      results.osprofiler.spans = spans.length;
      seen.cloudMissing = `not observable from outside this cloud: no OSProfiler span marks it (ceilometer and aodh's evaluation are not traced) and ${env.serviceLogs ? 'no service log gives it' : 'service logs are not read'}`;
      for (const v of vms) {
        const span = resetSpan(spans, v.vmId);
        if (span?.startedAt === undefined || span.finishedAt === undefined) continue;
        seen.resetSpans.set(v.vmId, {
          startedAt: round(span.startedAt - (clock.offsetMs ?? 0)), finishedAt: round(span.finishedAt - (clock.offsetMs ?? 0)),
          source: `osprofiler (${span.service ?? 'nova-api'} wsgi span)`, clock: clock.name,
        });
      }
    } catch (err) {
      results.osprofiler.error = (err as Error).message;
      log.warn({ err: (err as Error).message }, 'could not fetch the OSProfiler trace');
    }
  }
}

/** 7. What Nova says of the host and the VMs, then the verdict. */
export async function verify(ctx: RunContext, s: Services, p: Provisioned, missing: string | undefined): Promise<void> {
  const { results, config } = ctx;
  const hostStatus: Record<string, string | undefined> = {};
  const vmStatus: Record<string, string> = {};
  for (const vm of p.affected) {
    const now = await s.admin.compute.servers.get(vm.id);
    hostStatus[vm.name] = now.hostStatus;
    vmStatus[vm.name] = now.status;
  }
  results.verification = { hostStatus, vmStatus };
  const problems: string[] = [];
  if (missing) problems.push(missing);
  const last = results.notifications?.lastMs;
  if (!missing && last !== undefined && !(last > 0 && last < config.thresholdMs)) problems.push(`the last notification took ${last} ms, not within 0–${config.thresholdMs} ms`);
  const badHost = Object.entries(hostStatus).filter(([, v]) => v !== 'DOWN' && v !== 'UNKNOWN');
  if (badHost.length) problems.push(`host_status is not DOWN/UNKNOWN for ${badHost.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  const badVm = Object.entries(vmStatus).filter(([, v]) => v !== 'ERROR');
  if (badVm.length) problems.push(`VMs not in ERROR: ${badVm.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  results.verdict = problems.length ? 'FAIL' : 'PASS';
  if (problems.length) results.reason = problems.join('; ');
}

/** 9. After teardown: the host's instants on our clock, and the eleven-checkpoint profile. */
export function measure(ctx: RunContext): void {
  const { results, seen, config } = ctx;
  if (results.detection && results.faultLog?.downAt !== undefined) {
    results.detection.linkDownAt = round(results.faultLog.downAt - (results.faultLog.clock === 'harness' ? 0 : seen.hostClock?.offsetMs ?? 0));
    results.detection.detectionMs = round(results.detection.detectedAt - results.detection.linkDownAt);
  }
  if (results.notifications && config.profilerType === 'poc') results.profile = profileOf(results, seen);
}

function profileOf(results: RunResults, seen: Observations): Profile {
  const insp = results.inspector;
  const clocks: ClockReading[] = [...seen.cloudClocks];
  if (seen.hostClock && results.host) {
    clocks.push({
      clock: results.host.name, offsetMs: seen.hostClock.offsetMs, uncertaintyMs: seen.hostClock.uncertaintyMs,
      method: `best of ${seen.hostClock.samples} SSH round trips (${seen.hostClock.bestRoundTripMs} ms): ± half of it`,
    });
  }
  const got = new Map(results.notifications?.perVm.map((v) => [v.vmId, v]));
  return buildProfile({
    ...(results.faultLog?.downAt !== undefined && results.host
      ? {
        hostDown: results.faultLog.clock === 'harness'
          ? { at: results.detection?.linkDownAt ?? results.faultLog.downAt, source: 'power driver (off command, its midpoint)', clock: 'harness', uncertaintyMs: results.faultLog.downUncertaintyMs ?? 0 }
          : { at: results.detection?.linkDownAt ?? results.faultLog.downAt, source: `fault script on ${results.host.name}`, clock: results.host.name, ...(seen.hostClock ? { uncertaintyMs: seen.hostClock.uncertaintyMs } : {}) },
      }
      : {}),
    ...(seen.hostDownMissing ? { hostDownMissing: seen.hostDownMissing } : {}),
    ...(results.detection ? { detectedAt: results.detection.detectedAt } : {}),
    ...(insp?.foundAffectedAt !== undefined ? { foundAffectedAt: insp.foundAffectedAt } : {}),
    ...(insp?.markedDownAt !== undefined ? { markedDownAt: insp.markedDownAt } : {}),
    vms: seen.affected.map((a) => {
      const reset = insp?.vms.find((v) => v.id === a.vmId)?.resetRequestedAt;
      const notified = got.get(a.vmId)?.notifiedAt;
      const handled = seen.consumerHandled.get(a.alarmId);
      return {
        vmId: a.vmId, name: a.name, cloud: seen.cloudInstants.get(a.vmId) ?? {},
        ...(seen.resetSpans.has(a.vmId) ? { resetSpan: seen.resetSpans.get(a.vmId)! } : {}),
        ...(reset !== undefined ? { resetRequestedAt: reset } : {}),
        ...(notified !== undefined ? { receivedAt: notified } : {}),
        ...(handled !== undefined ? { handledAt: handled } : {}),
      };
    }),
    cloudMissing: seen.cloudMissing, cloudMissingBy: seen.cloudMissingBy, clocks,
  });
}

/** 10. The TestAPI (when configured), then results.json, report.html and junit.xml. */
export async function publish(ctx: RunContext): Promise<void> {
  const { results, config } = ctx;
  const reporting = config.reporting;
  if (reporting.testDbUrl) {
    // Filed for CI's dashboards; a failure is reported here and in the log, the verdict stays.
    results.testDb = await pushResult(
      { url: reporting.testDbUrl, podName: reporting.podName, installer: config.installer.type, version: reporting.version, scenario: reporting.scenario, buildTag: reporting.buildTag },
      { projectName: 'doctor', caseName: config.testCase, criteria: results.verdict === 'PASS' ? 'PASS' : 'FAIL', startedAt: results.startedAt, finishedAt: results.finishedAt!, details: testDbDetails(results) },
    );
    if (!results.testDb.ok) ctx.log.error({ error: results.testDb.error }, 'could not file the result in the test database');
  }
  writeFileSync(join(config.resultsDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(config.resultsDir, 'report.html'), renderHtml(results));
  writeFileSync(join(config.resultsDir, 'junit.xml'), junitFor(results));
}

/** The timings TestAPI keeps in `details`: notification times, detection, and the slowest VM's profile. */
function testDbDetails(r: RunResults): Record<string, unknown> {
  const slowest = r.profile?.timelines.find((t) => t.vmId === r.profile?.slowest);
  const t0 = slowest?.checkpoints.find((c) => c.at !== undefined)?.at;
  return {
    run_id: r.runId, threshold_ms: r.thresholdMs, ...(r.reason ? { reason: r.reason } : {}),
    ...(r.detection?.detectionMs !== undefined ? { detection_ms: r.detection.detectionMs } : {}),
    ...(r.notifications ? { notification: { expected: r.notifications.expected, received: r.notifications.received, first_ms: r.notifications.firstMs ?? null, last_ms: r.notifications.lastMs ?? null } } : {}),
    ...(slowest && t0 !== undefined ? {
      profile: {
        total_ms: slowest.totalMs ?? null,
        checkpoints: slowest.checkpoints.map((c) => ({ id: c.id, name: c.name, ms: c.at === undefined ? null : round(c.at - t0), source: c.source ?? null, ...(c.missing ? { missing: c.missing } : {}) })),
        components: slowest.components.map((c) => ({ component: c.component, ms: c.ms, percent: c.percent })),
      },
    } : {}),
  };
}

/**
 * The Doctor fault-management scenario, end to end (DESIGN §1): where it runs is the Environment's
 * business, each step is a phase (phases.ts), and cleanup always runs, from one named teardown list.
 */
import { join } from 'node:path';
import { InternalError, makeDir } from '../shared/index.js';
import { EnergyRecorder } from '../profiler/index.js';
import { redactedConfig, type RunConfig } from './config.js';
import { DEFAULT_EDGES } from './edges.js';
import { cloudProfileHooks } from './cloud-profile.js';
import { openEnvironment } from './environment.js';
import { Ledger } from './ledger.js';
import { componentLoggers } from './logs.js';
import {
  armCloudProfile, armMonitor, awaitNotifications, injectFault, measure, prepareControllers, provisionVms, publish, startServices, TeardownList, verify, type RunContext,
} from './phases.js';
import type { RunDeps, RunResults } from './results.js';
import { flagOf } from './settings/index.js';

export type { RunDeps, RunResults, Verdict, VmResult } from './results.js';

export async function runFaultManagement(config: RunConfig, deps: RunDeps): Promise<RunResults> {
  const started = Date.now();
  makeDir(config.resultsDir, flagOf('resultsDir'));
  const logs = componentLoggers(join(config.resultsDir, 'logs'), config.logLevel, config.runId);
  const log = logs.get('orchestrator');
  const energyUrl = config.reporting.energyRecorderUrl;
  const ctx: RunContext = {
    config, deps, signal: deps.signal, progress: deps.progress, logs, log,
    ledger: new Ledger(deps.ledgerDir, config.runId),
    teardown: new TeardownList(log),
    edges: { ...DEFAULT_EDGES, ...deps.edges },
    results: {
      runId: config.runId, testCase: config.testCase, verdict: 'ERROR', thresholdMs: config.thresholdMs,
      startedAt: new Date(started).toISOString(), config: redactedConfig(config), cleanup: { ok: true, errors: [] },
    },
    seen: { cloudInstants: new Map(), cloudMissing: 'no source for the cloud\'s checkpoints', cloudMissingBy: {}, cloudClocks: [], consumerHandled: new Map(), resetSpans: new Map(), affected: [] },
    ...(energyUrl ? { energy: new EnergyRecorder(energyUrl, config.reporting.podName, { scenario: config.reporting.scenario, logger: log }) } : {}),
  };
  const { results, signal } = ctx;
  await ctx.energy?.start();

  try {
    // 1. Where the run happens: credentials, how the computes and controllers are reached.
    const env = await openEnvironment({
      config, ledger: ctx.ledger, teardown: ctx.teardown, progress: ctx.progress, logger: (c) => logs.get(c), resolveHost: ctx.edges.resolveHost,
      session: (node) => ctx.edges.controller(node, log),
      ...(deps.onLabCloud ? { onLabCloud: deps.onLabCloud } : {}),
    });
    results.cloud = env.cloud; // named at once: a run that fails early still says which lab it had
    results.environment = { name: env.name, controllers: env.controllers };
    // Before anything is made: a profile this cloud cannot give is said now.
    const hooks = cloudProfileHooks(config, env);
    // 2. The admin client and the consumer (through tunnels where Aodh cannot reach it); the controllers' configuration.
    const services = await startServices(ctx, env);
    await prepareControllers(ctx, env);
    // 3. The tenant, VMs and alarms.
    const vms = await provisionVms(ctx, env, services);
    // 4. The inspector and the monitor on the VMs' host; 5. the fault, until the monitor sees it.
    const armed = await armMonitor(ctx, env, services, vms);
    const profiled = hooks ? await armCloudProfile(ctx, hooks) : undefined;
    const down = await injectFault(ctx, armed, vms);
    // 6. Every expected alarm; 7. what Nova says, and the verdict.
    const missing = await awaitNotifications(ctx, env, services, armed, vms, down);
    await profiled?.();
    await verify(ctx, services, vms, missing);
  } catch (err) {
    results.verdict = signal.aborted && !(signal.reason instanceof InternalError) ? 'INTERRUPTED' : 'ERROR';
    results.reason = signal.aborted ? (signal.reason instanceof Error ? signal.reason.message : 'interrupted') : (err as Error).message;
    log.error({ err: (err as Error).message }, 'run failed');
  } finally {
    // 8. Teardown, in reverse order of creation.
    ctx.progress('cleaning up');
    await ctx.energy?.step('cleanup');
    const { errors, unobserved } = await ctx.teardown.run();
    if (unobserved.length) {
      ctx.seen.hostDownMissing ??= unobserved.join('; ');
      log.warn({ unobserved }, 'some of what the run observed could not be read');
    }
    // 9. What the run measured, now that the fault log is in.
    measure(ctx);
    results.cleanup = { ok: errors.length === 0, errors };
    if (errors.length) {
      log.error({ errors }, 'cleanup incomplete');
      if (results.verdict === 'PASS') results.verdict = 'FAIL';
      results.reason = [results.reason, `cleanup incomplete (run doctor cleanup): ${errors.join('; ')}`].filter(Boolean).join('; ');
      ctx.ledger.add({ kind: 'ended', at: new Date().toISOString() });
    } else {
      ctx.ledger.close();
    }
    results.finishedAt = new Date().toISOString();
    results.wallMs = Date.now() - started;
    await ctx.energy?.stop();
    // 10. The TestAPI and the report files.
    await publish(ctx);
    logs.flush();
  }
  return results;
}

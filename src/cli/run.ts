import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createOpenStackClient, loadCredentials, type CloudCredentials } from '../openstack/index.js';
import { HarnessError, InternalError, processStart } from '../shared/index.js';
import { labDown, readState, restoreHostLink } from '../lab/index.js';
import { cloudEntries, flagProperty, Ledger, loadConfig, removeResources, restoreControllersFromLedger, runFaultManagement, runPower, SETTINGS, stopPowerOnTimer, type LedgerEntry, type RunResults } from '../orchestrator/index.js';
import { renderCloudProfiles, renderProfile, shortcutLine } from '../profiler/index.js';
import { historyFile, recordRun } from './history.js';
import { readText, stateHome } from './common.js';

export function ledgerDir(env: NodeJS.ProcessEnv): string {
  return join(stateHome(env), 'ledgers');
}

export type RunFlags = Record<string, string | boolean | undefined> & { config?: string };

/** `doctor run`: the scenario; returns the exit code (0 PASS, 1 FAIL, 2 error, 130 interrupted). */
export async function runScenario(flags: RunFlags, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<number> {
  const mapped = Object.fromEntries(SETTINGS.filter((s) => s.flag).map((s) => [s.key, flags[flagProperty(s)]]));
  const config = loadConfig({ env, flags: mapped, readFile: readText, cwd: process.cwd(), ...(flags.config ? { configFile: flags.config } : {}) });
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      out(`${sig}: interrupting; cleaning up (Ctrl-C twice more to exit at once and leave it to doctor cleanup)`);
      ac.abort(new Error(`interrupted by ${sig}`));
    } else if (signals >= 3) {
      out('exiting without finishing the cleanup: run doctor cleanup');
      process.exit(130);
    } else out('still cleaning up…');
  };
  // A bug that throws outside the run's own promise chain must not end the process with the lab
  // and the cloud's resources still there: it ends the run, whose cleanup then runs as for Ctrl-C.
  let internal: Error | undefined;
  const onInternal = (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!internal) out(`doctor: internal error: ${e.message}; ending the run and cleaning up`);
    internal ??= e;
    if (!ac.signal.aborted) ac.abort(new InternalError(`internal error: ${e.message}`, { cause: e }));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onInternal);
  process.on('unhandledRejection', onInternal);
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
  out(`doctor run ${config.runId}: ${config.testCase} on ${config.cloud.mode === 'lab' ? 'the embedded lab' : config.cloud.credentials.authUrl}, ${config.vmCount} VM(s)`);
  let results: RunResults;
  try {
    // A live status line on a terminal; plain lines in CI and in logs.
    const live = Boolean(process.stdout.isTTY) && !env['CI'];
    const status = live ? (text: string) => process.stdout.write(`\r\x1b[2K${text ? `        ${text}` : ''}`) : undefined;
    results = await runFaultManagement(config, { signal: ac.signal, progress: (l) => out(`[${stamp()}] ${l}`), ledgerDir: ledgerDir(env), ...(status ? { status } : {}) });
  } finally {
    // The run and its cleanup are over: a signal from here on waits for the results to be printed
    // and kept in the history (synchronous code it cannot cut), then ends the process with the
    // run's exit code. Without a handler it killed the process and that code was lost.
    const late = () => process.exit(process.exitCode ?? 130);
    process.once('SIGINT', late);
    process.once('SIGTERM', late);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onInternal);
    process.off('unhandledRejection', onInternal);
  }
  for (const l of summary(results)) out(l);
  try {
    recordRun(historyFile(env), results, join(config.resultsDir, 'results.json'));
  } catch (err) {
    out(`  (not kept in the run history: ${(err as Error).message})`);
  }
  out(`  results: ${join(config.resultsDir, 'results.json')}, junit.xml, report.html  (${((results.wallMs ?? 0) / 1000).toFixed(1)} s)`);
  if (internal) return 2;
  return { PASS: 0, FAIL: 1, ERROR: 2, INTERRUPTED: 130 }[results.verdict];
}

/** The verdict, the detection and notification times, and the profile: what `doctor run` and `doctor report` print. */
export function summary(r: RunResults): string[] {
  const out = ['', `${r.verdict}${r.reason ? `: ${r.reason}` : ''}`];
  if (r.host && r.detection) {
    out.push(`  host ${r.host.name} (${r.host.ip}) ${r.host.fault ?? 'link-down'}${r.detection.detectionMs !== undefined ? ` → detected in ${r.detection.detectionMs} ms` : ' → detected'}`);
  }
  const n = r.notifications;
  if (n) {
    const span = n.firstMs !== undefined ? `first ${n.firstMs} ms, last ${n.lastMs} ms` : 'none arrived';
    out.push(`  notification time (consumer − detection): ${span} (${n.received}/${n.expected} VMs; pass if under ${r.thresholdMs} ms)`);
  }
  if (r.inspectorCommand) out.push(`  inspector: yours (${r.inspectorCommand.command}) at ${r.inspectorCommand.url}; what it did (checkpoints 2–4) is not seen from outside`);
  const c = r.inspector?.concurrency;
  if (c) {
    out.push(c.mode === 'fixed'
      ? `  inspector: ${r.inspector!.vms.length} reset-state call(s), ${c.limit} in flight at most`
      : `  inspector: ${r.inspector!.vms.length} reset-state call(s), in flight adapted to Nova: ${c.start} at first, ${c.peak} at most, ${c.end} at the end${c.bestMs !== undefined ? ` (best answer ${c.bestMs} ms)` : ''}`);
  }
  const o = r.osprofiler;
  if (o) {
    const resets = o.resetsTraced !== undefined && r.inspector ? `; ${o.resetsTraced} of ${r.inspector.vms.length} reset-state call(s) traced (--trace-resets)` : '';
    out.push(`  OSProfiler trace ${o.traceId}${o.spans !== undefined ? `: ${o.spans} span(s)` : ''}${resets}${o.error ? ` — not read: ${o.error}` : ''}`);
  }
  const secs = (ms: number | undefined) => (ms === undefined ? '' : ` in ${(ms / 1000).toFixed(1)} s`);
  for (const c of r.environment?.controllerSetup ?? []) {
    out.push(c.changed.length
      ? `  ${c.node}: set up ${c.changed.length} file(s) (restarted ${c.restarted.join(', ')})${secs(c.setupMs)}; put back ${c.restored.length} of ${c.changed.length}${secs(c.restoreMs)}`
      : `  ${c.node}: already set up, nothing changed`);
  }
  if (r.shortcut) out.push(`  ${shortcutLine(r.shortcut)}`);
  for (const t of r.environment?.tunnels ?? []) out.push(`  alarms through a reverse tunnel from ${t.node}${t.reconnects ? ` (reconnected ${t.reconnects}×)` : ''}`);
  if (r.profile) out.push(...renderProfile(r.profile));
  if (r.cloudProfile) out.push(...renderCloudProfiles(r.cloudProfile));
  if (!r.cleanup.ok) out.push(`  cleanup incomplete: ${r.cleanup.errors.join('; ')} — run doctor cleanup`);
  return out;
}

/** `doctor cleanup`: removes what runs that died left (their ledgers); runs still going are left alone. */
export async function runCleanup(env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<number> {
  const runs = Ledger.readAll(ledgerDir(env));
  // What lies beside the ledgers: each dead run's embedded-cloud folder is found here by its name.
  const stateFiles = existsSync(ledgerDir(env)) ? readdirSync(ledgerDir(env)) : [];
  if (!runs.length) {
    out('nothing to clean up: no run left a ledger');
    return 0;
  }
  let failed = 0;
  for (const run of runs) {
    const live = Ledger.liveOwner(run.entries);
    if (live) {
      out(`run ${run.runId}: still running (PID ${live.pid}, since ${live.startedAt}): left alone`);
      continue;
    }
    const errors: string[] = [];
    // A process the run started (the embedded lab's cloud) that outlived it: stopped, if it is still that process.
    for (const e of run.entries) {
      if (e.kind !== 'process') continue;
      const start = processStart(e.pid);
      if (start === undefined || (e.processStart !== undefined && start !== e.processStart)) continue;
      try {
        process.kill(e.group ? -e.pid : e.pid, 'SIGTERM');
        out(`run ${run.runId}: stopped ${e.what} (PID ${e.pid})`);
      } catch (err) {
        errors.push(`stopping ${e.what} (PID ${e.pid}): ${(err as Error).message}`);
      }
    }
    const cloud = run.entries.find((e) => e.kind === 'cloud');
    const cloudResources = cloudEntries(run.entries);
    // A fault the run started: a lab host's link goes back up now (unless the lab itself goes below); a real host's by its own timer.
    const removedLabs = new Set(run.entries.flatMap((e) => (e.kind === 'lab' ? [e.stateDir] : [])));
    for (const e of run.entries) {
      if (e.kind !== 'fault' || (e.labStateDir && removedLabs.has(e.labStateDir))) continue;
      const host = e.labStateDir ? readState(e.labStateDir)?.hosts.find((h) => h.hostIp === e.ip) : undefined;
      if (host) {
        try {
          await restoreHostLink(host, { stopping: e.scriptPath });
          for (const f of [e.scriptPath, e.logPath, `${e.scriptPath}.frozen`]) rmSync(f, { force: true });
        } catch (err) {
          errors.push(`restoring the link of ${e.host} (${e.ip}): ${(err as Error).message}`);
        }
      } else if (Date.parse(e.until) > Date.now()) {
        out(`run ${run.runId}: ${e.host} (${e.ip}) gets its link back by its own timer by ${e.until}`);
      }
    }
    // A host the power driver powered off: its timer (if still that process) stops, and the host is powered on now.
    for (const e of run.entries) {
      if (e.kind !== 'power-off') continue;
      if (e.timerPid !== undefined) stopPowerOnTimer({ pid: e.timerPid, processStart: e.timerStart });
      try {
        const on = await runPower(e.on, 'on', { host: e.host, ip: e.ip });
        if (on.exitCode !== 0) errors.push(`powering ${e.host} on: the command failed (exit ${on.exitCode})${on.output ? `: ${on.output}` : ''}`);
        else out(`run ${run.runId}: powered ${e.host} (${e.ip}) on`);
      } catch (err) {
        errors.push(`powering ${e.host} on: ${(err as Error).message}`);
      }
    }
    // Controller files the run changed go back from their backups on the nodes; then the keys it fetched to reach them go.
    const restoring = await restoreControllersFromLedger(run.entries);
    errors.push(...restoring);
    // Kept while a controller still needs them (the next doctor cleanup tries again).
    if (!restoring.length) for (const e of run.entries) if (e.kind === 'private-dir') rmSync(e.path, { recursive: true, force: true });
    // The embedded cloud's folder, named by the run beside its ledger, even if the run died before noting it.
    for (const f of stateFiles) if (f.startsWith(`${run.runId}.cloud-`)) rmSync(join(ledgerDir(env), f), { recursive: true, force: true });
    if (cloud && !cloud.embedded) {
      try {
        const client = createOpenStackClient({ credentials: recordedCloud(cloud, env) });
        try {
          errors.push(...(await removeResources(client, cloudResources, { sweepName: `doctor-${run.runId}` })));
        } finally {
          client.close();
        }
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    // An embedded cloud died with its run; its hosts did not.
    for (const e of run.entries) {
      if (e.kind !== 'lab') continue;
      try {
        await labDown({ stateDir: e.stateDir });
      } catch (err) {
        errors.push(`removing the lab at ${e.stateDir}: ${(err as Error).message}`);
      }
    }
    if (errors.length) {
      failed += 1;
      out(`run ${run.runId}: NOT clean (its ledger ${run.path} is kept): ${errors.join('; ')}`);
    } else {
      new Ledger(ledgerDir(env), run.runId, { owner: false }).close();
      out(`run ${run.runId}: cleaned (${run.entries.length} ledger entries)`);
    }
  }
  return failed ? 1 : 0;
}

/**
 * The credentials of the cloud a run recorded: its clouds.yaml entry when it had one, else the
 * OS_* variables, and only if they name the same Keystone (against another cloud every delete
 * would answer 404, which counts as removed, and the leftovers would be forgotten).
 */
function recordedCloud(cloud: Extract<LedgerEntry, { kind: 'cloud' }>, env: NodeJS.ProcessEnv): CloudCredentials {
  const source = cloud.cloudName ? `clouds.yaml entry "${cloud.cloudName}"` : 'the OS_* variables';
  let credentials: CloudCredentials;
  try {
    credentials = loadCredentials(env, readText, cloud.cloudName);
  } catch (err) {
    throw new HarnessError(`cannot reach the cloud the run used (${cloud.authUrl}) through ${source}: ${(err as Error).message}`, { cause: err });
  }
  const bare = (u: string) => u.replace(/\/+$/, '');
  if (bare(credentials.authUrl) !== bare(cloud.authUrl)) {
    throw new HarnessError(
      `the run used the cloud at ${cloud.authUrl}, but ${source} now names ${credentials.authUrl}: refusing to clean up against another cloud; ` +
        `point ${cloud.cloudName ? `clouds.yaml entry "${cloud.cloudName}"` : 'OS_AUTH_URL (or OS_CLOUD)'} at ${cloud.authUrl} and run doctor cleanup again`,
    );
  }
  return credentials;
}

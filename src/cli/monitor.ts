import { readFileSync } from 'node:fs';
import { ConfigError } from '../shared/index.js';
import { isLabAddress, labRouteGuard, readState } from '../lab/index.js';
import {
  DOCTOR_PROFILE, FAST_PROFILE, InspectorReporter, Monitor, openRawIcmp,
  type EventShape, type HostDownEvent, type HostUpEvent, type MonitoredHost,
} from '../monitor/index.js';
import { labStateDir } from './lab-hosts.js';

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
}

export function parseHostFlags(values: string[], flag = '--host'): MonitoredHost[] {
  if (!values.length) throw new ConfigError(flag, 'give at least one host as NAME=IP (e.g. --host compute-1=198.18.0.2)');
  return values.map((v) => {
    const [name, ip] = v.split('=');
    if (!name || !ip || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new ConfigError(flag, `"${v}" is not NAME=IPv4`);
    return { name, ip };
  });
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

/** `doctor monitor`: probe hosts until Ctrl-C, report each host-down to the inspector. */
export async function runMonitor(flags: MonitorFlags, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<void> {
  const hosts = hostsOf(flags);
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
    if (!state) throw new ConfigError('--host', `lab addresses given but no lab "${flags.labId}" is up at ${dir}; run doctor lab up first`);
    guard = labRouteGuard(state);
  }

  const monitor = new Monitor({ hosts, transport: await openRawIcmp(), ...profile, ...(guard ? { guard } : {}) });
  const emit = (human: string, record: Record<string, unknown>) => out(flags.json ? JSON.stringify(record) : human);
  monitor.on('down', (e: HostDownEvent) => {
    emit(`${new Date(e.detectedAt).toISOString()} ${e.host} (${e.ip}) DOWN after ${e.losses} lost probe(s)`, { event: 'down', ...e });
    void reporter.report(e.host, e.detectedAt).then((r) =>
      emit(r.ok ? `  reported to the inspector (HTTP ${r.status}, ${r.attempts} attempt(s))` : `  NOT reported to the inspector: ${r.error}`, { event: 'report', host: e.host, ...r }),
    );
  });
  monitor.on('up', (e: HostUpEvent) => emit(`${new Date(e.at).toISOString()} ${e.host} (${e.ip}) up`, { event: 'up', ...e }));
  await monitor.start();
  const shown = hosts.length > 10 ? `${hosts.slice(0, 10).map((h) => `${h.name}=${h.ip}`).join(', ')} and ${hosts.length - 10} more` : hosts.map((h) => `${h.name}=${h.ip}`).join(', ');
  out(flags.json ? JSON.stringify({ event: 'started', hosts, profile }) : `monitoring ${shown} every ${profile.intervalMs} ms (timeout ${profile.timeoutMs} ms, down after ${profile.k} loss(es)); Ctrl-C stops`);
  monitor.ready(5_000).catch((err: Error) => out(flags.json ? JSON.stringify({ event: 'warning', message: err.message }) : `warning: ${err.message}`));
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      monitor.stop();
      const states = monitor.states();
      const total = (k: 'sent' | 'replies' | 'losses') => states.reduce((n, h) => n + h[k], 0);
      const sched = monitor.schedule();
      const down = states.filter((h) => h.state === 'down').map((h) => h.host);
      emit(
        `stopped: ${total('sent')} probes to ${states.length} host(s), ${total('replies')} replies, ${total('losses')} counted lost; probes left ${sched.lateP50Ms} ms late at p50, ${sched.lateP99Ms} ms at p99${sched.skipped ? `, ${sched.skipped} skipped by a stalled event loop` : ''}${down.length ? `; down now: ${down.slice(0, 10).join(', ')}${down.length > 10 ? ` and ${down.length - 10} more` : ''}` : ''}`,
        { event: 'stopped', hosts: states.length, sent: total('sent'), replies: total('replies'), losses: total('losses'), down, schedule: sched, memory: memoryMiB() },
      );
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * Controller set-up and restore over SSH: the edits of edits.ts applied to a controller's files, a
 * backup of each changed file kept on the node (and in the ledger, so doctor cleanup can put it back
 * after a SIGKILL), only the services whose files changed restarted; restore puts every file back byte
 * for byte (cp -p from its backup) and restarts those services again.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { HarnessError, shellQuote } from '../../shared/index.js';
import type { SshAuth, SshSession, SshTarget } from '../fault/ssh.js';
import { AMQP_LOGGER } from '../../profiler/index.js';
import { SERVICE_LOG_LEVELS, withAlarmSink, withDebugLogger, withIniValue, withInstanceUpdateTraits } from './edits.js';

export type ControllerService = 'ceilometer' | 'aodh' | 'nova';

/** Where an installer keeps the files, and how it restarts each service. */
export interface ControllerLayout {
  eventPipeline: string;
  eventDefinitions: string;
  aodhConf: string;
  novaConf: string;
  ceilometerConf: string;
  /** A shell command per service (run as the SSH user; sudo in it where needed). */
  restart: Record<ControllerService, string>;
  /**
   * Service logs the profile reads its cloud checkpoints from (none: not read): nova-api's (5) and the
   * notification agent's (6) once the set-up has their message logger at DEBUG, Aodh's listener's (7).
   */
  logs?: ServiceLogs;
  /**
   * Services that can profile themselves while a run asks (`--profile-cloud`): `flag` is the file the run
   * writes to switch it on (a folder and an expiry), `dir` where the service may write the folder. Both
   * are on the controllers' file system: nova-compute's too (the all-in-one lab's computes share it).
   */
  profile?: { novaApi?: CloudProfileHook; novaConductor?: CloudProfileHook; novaCompute?: CloudProfileHook };
}

export interface CloudProfileHook {
  flag: string;
  dir: string;
}

export interface ServiceLogs {
  novaApi?: string;
  ceilometerNotification?: string;
  aodhListener?: string;
}

const profileHook = z.object({ flag: z.string().min(1), dir: z.string().min(1) }).strict();
/** A controllerLayout file: any of the layout's keys, over the installer's. */
export const controllerLayoutSchema = z.object({
  eventPipeline: z.string().min(1), eventDefinitions: z.string().min(1), aodhConf: z.string().min(1), novaConf: z.string().min(1), ceilometerConf: z.string().min(1),
  restart: z.object({ ceilometer: z.string().min(1), aodh: z.string().min(1), nova: z.string().min(1) }).partial().strict(),
  logs: z.object({ novaApi: z.string().min(1), ceilometerNotification: z.string().min(1), aodhListener: z.string().min(1) }).partial().strict(),
  profile: z.object({ novaApi: profileHook, novaConductor: profileHook, novaCompute: profileHook }).partial().strict(),
}).partial().strict();
export type ControllerLayoutOverrides = z.output<typeof controllerLayoutSchema>;

/** The installer's layout with the user's keys over it. */
export function withOverrides(base: ControllerLayout, over: ControllerLayoutOverrides | undefined): ControllerLayout {
  return { ...base, ...over, restart: { ...base.restart, ...over?.restart }, logs: { ...base.logs, ...over?.logs }, profile: { ...base.profile, ...over?.profile } };
}

/** A controller as the set-up reaches it. */
export interface ControllerNode {
  name: string;
  ip: string;
  ssh: { target: SshTarget; auth: SshAuth };
}

/** What set-up and restore need of a session on the node (an SshSession; tests give a local one). */
export type ControllerSession = Pick<SshSession, 'exec' | 'readFile' | 'writeFile' | 'close'>;

/** devstack's files and its systemd units. */
/** Where the distributions' packages put the files (devstack, RDO, Ubuntu's): the layouts differ in how they restart. */
export const ETC_FILES: Pick<ControllerLayout, 'eventPipeline' | 'eventDefinitions' | 'aodhConf' | 'novaConf' | 'ceilometerConf'> = {
  eventPipeline: '/etc/ceilometer/event_pipeline.yaml',
  eventDefinitions: '/etc/ceilometer/event_definitions.yaml',
  aodhConf: '/etc/aodh/aodh.conf',
  novaConf: '/etc/nova/nova.conf',
  ceilometerConf: '/etc/ceilometer/ceilometer.conf',
};

export const DEVSTACK_LAYOUT: ControllerLayout = {
  ...ETC_FILES,
  restart: {
    ceilometer: 'sudo systemctl restart devstack@ceilometer-anotification.service',
    aodh: 'sudo systemctl restart devstack@aodh-listener.service',
    nova: 'sudo systemctl restart devstack@n-api.service',
  },
};

/** One file the set-up changed: what doctor cleanup needs to put it back. */
export interface ControllerFileChange {
  path: string;
  backup: string;
  service: ControllerService;
  /** What was missing, for people. */
  what: string;
}

interface Edit {
  path: string;
  service: ControllerService;
  what: string;
  apply: (text: string) => string;
}

function editsFor(layout: ControllerLayout): Edit[] {
  return [
    { path: layout.eventPipeline, service: 'ceilometer', what: 'the notifier://?topic=alarm.all event sink', apply: (t) => withAlarmSink(t, layout.eventPipeline) },
    { path: layout.eventDefinitions, service: 'ceilometer', what: 'the compute.instance.update traits', apply: (t) => withInstanceUpdateTraits(t, layout.eventDefinitions) },
    // Without a zero cache TTL, Aodh ignores for 60 s the event alarms created after it last looked.
    { path: layout.aodhConf, service: 'aodh', what: 'event_alarm_cache_ttl = 0', apply: (t) => withIniValue(t, 'DEFAULT', 'event_alarm_cache_ttl', '0') },
    // A VM reset to error must be notified: vm_state is enough, vm_and_task_state more.
    {
      path: layout.novaConf, service: 'nova', what: 'notify_on_state_change = vm_and_task_state',
      apply: (t) => withIniValue(t, 'notifications', 'notify_on_state_change', 'vm_and_task_state', (c) => c === 'vm_state' || c === 'vm_and_task_state'),
    },
    // Checkpoints 5 and 6 are lines only oslo.messaging's driver writes, at DEBUG: only where they are read.
    ...(layout.logs?.novaApi ? [{
      path: layout.novaConf, service: 'nova' as const, what: `${AMQP_LOGGER}=DEBUG (checkpoint 5 from ${layout.logs.novaApi})`,
      apply: (t: string) => withDebugLogger(t, AMQP_LOGGER, SERVICE_LOG_LEVELS.nova),
    }] : []),
    ...(layout.logs?.ceilometerNotification ? [{
      path: layout.ceilometerConf, service: 'ceilometer' as const, what: `${AMQP_LOGGER}=DEBUG (checkpoint 6 from ${layout.logs.ceilometerNotification})`,
      apply: (t: string) => withDebugLogger(t, AMQP_LOGGER, SERVICE_LOG_LEVELS.ceilometer),
    }] : []),
  ];
}

const q = shellQuote;

/**
 * The session as root, through sudo, for a node reached as another user (devstack's stack, TripleO's
 * heat-admin): each command runs in `sudo -n sh -c`, files are read with `sudo cat` and written through a
 * private upload in /tmp. `-n`: a sudo that wants a password fails at once instead of hanging.
 */
export function throughSudo(s: ControllerSession): ControllerSession {
  const run = async (command: string, timeoutMs?: number) => s.exec(`sudo -n sh -c ${q(command)}`, timeoutMs);
  return {
    exec: run,
    async readFile(path) {
      const r = await run(`cat -- ${q(path)}`);
      if (r.code !== 0) throw new HarnessError((r.stderr || r.stdout).trim() || `sudo cat exited ${r.code}`);
      return r.stdout;
    },
    async writeFile(path, data, mode) {
      const upload = `/tmp/doctor-upload-${randomBytes(6).toString('hex')}`;
      await s.writeFile(upload, data, 0o600);
      const r = await s.exec(`sudo -n sh -c ${q(`cat -- ${q(upload)} > ${q(path)} && chmod ${mode.toString(8)} -- ${q(path)}`)}; st=$?; rm -f -- ${q(upload)}; exit $st`);
      if (r.code !== 0) throw new HarnessError(`cannot write ${path} through sudo: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
    },
    close: () => s.close(),
  };
}

/** A session on a node, as root: directly when the user is root, else through sudo. */
export function asRoot(s: ControllerSession, username: string | undefined): ControllerSession {
  return (username ?? 'root') === 'root' ? s : throughSudo(s);
}

/**
 * Applies what is missing. `record` is called for each file before it is touched (the ledger), so a run
 * killed halfway leaves doctor cleanup what it needs. Returns the files changed and the services restarted:
 * none of either on a controller already set up.
 */
export async function setUpController(
  ssh: Pick<ControllerSession, 'exec' | 'readFile' | 'writeFile'>, layout: ControllerLayout, runId: string, record: (change: ControllerFileChange) => void,
  restarting: (services: ControllerService[]) => void = () => {},
): Promise<{ changed: ControllerFileChange[]; restarted: ControllerService[] }> {
  const edits = editsFor(layout);
  const paths = [...new Set(edits.map((e) => e.path))];
  const texts = await Promise.all(paths.map((path) => ssh.readFile(path).catch((err: Error) => {
    const e = edits.find((x) => x.path === path)!;
    throw new HarnessError(`cannot read ${path} on the controller (${err.message}): is ${e.service} installed there, and is this the installer's layout (controllerLayout)?`, { cause: err });
  })));
  const changed: ControllerFileChange[] = [];
  for (const [i, path] of paths.entries()) {
    const text = texts[i]!;
    let next = text;
    const applied: Edit[] = [];
    for (const e of edits.filter((x) => x.path === path)) {
      const after = e.apply(next);
      if (after !== next) applied.push(e);
      next = after;
    }
    if (!applied.length) continue;
    const change: ControllerFileChange = { path, backup: `${path}.doctor-${runId}.bak`, service: applied[0]!.service, what: applied.map((e) => e.what).join(', ') };
    record(change);
    const staged = `${path}.doctor-${runId}.new`;
    await must(ssh, `cp -p -- ${q(path)} ${q(change.backup)}`);
    await ssh.writeFile(staged, next, 0o600);
    // Written through the original (cat >): its owner, mode and inode stay those the service expects.
    await must(ssh, `cat -- ${q(staged)} > ${q(path)} && rm -f -- ${q(staged)}`);
    changed.push(change);
  }
  const restarted = [...new Set(changed.map((c) => c.service))];
  if (restarted.length) restarting(restarted);
  await Promise.all(restarted.map((svc) => must(ssh, layout.restart[svc], 120_000)));
  return { changed, restarted };
}

/** Puts every changed file back from its backup, byte for byte, then restarts their services. */
export async function restoreController(
  ssh: Pick<ControllerSession, 'exec'>, changes: Array<Pick<ControllerFileChange, 'path' | 'backup' | 'service'>>, restart: Partial<Record<ControllerService, string>>,
): Promise<{ restored: string[]; restarted: ControllerService[] }> {
  const restored: string[] = [];
  for (const c of [...changes].reverse()) {
    // No backup: the run died before it copied one, so it never wrote the file either.
    const r = await must(ssh, `if [ -e ${q(c.backup)} ]; then cp -p -- ${q(c.backup)} ${q(c.path)} && rm -f -- ${q(c.backup)} && echo restored; fi; rm -f -- ${q(c.backup.replace(/\.bak$/, '.new'))}`);
    if (r.includes('restored')) restored.push(c.path);
  }
  const restarted = [...new Set(changes.filter((c) => restored.includes(c.path)).map((c) => c.service))];
  await Promise.all(restarted.map(async (svc) => {
    const cmd = restart[svc];
    if (cmd) await must(ssh, cmd, 120_000);
  }));
  return { restored, restarted };
}

async function must(ssh: Pick<ControllerSession, 'exec'>, command: string, timeoutMs = 30_000): Promise<string> {
  const r = await ssh.exec(command, timeoutMs);
  if (r.code !== 0) throw new HarnessError(`"${command}" on the controller failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout;
}

/**
 * Controller set-up and restore over SSH: the edits of edits.ts applied to a controller's files, a
 * backup of each changed file kept on the node (and in the ledger, so doctor cleanup can put it back
 * after a SIGKILL), only the services whose files changed restarted; restore puts every file back byte
 * for byte (cp -p from its backup) and restarts those services again.
 */
import { HarnessError } from '../../shared/index.js';
import type { SshSession } from '../fault/ssh.js';
import { withAlarmSink, withIniValue, withInstanceUpdateTraits } from './edits.js';

export type ControllerService = 'ceilometer' | 'aodh' | 'nova';

/** Where an installer keeps the files, and how it restarts each service. */
export interface ControllerLayout {
  eventPipeline: string;
  eventDefinitions: string;
  aodhConf: string;
  novaConf: string;
  /** A shell command per service (run as the SSH user; sudo in it where needed). */
  restart: Record<ControllerService, string>;
}

/** devstack's files and its systemd units. */
export const DEVSTACK_LAYOUT: ControllerLayout = {
  eventPipeline: '/etc/ceilometer/event_pipeline.yaml',
  eventDefinitions: '/etc/ceilometer/event_definitions.yaml',
  aodhConf: '/etc/aodh/aodh.conf',
  novaConf: '/etc/nova/nova.conf',
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
  ];
}

/** Single-quoted for the remote shell. */
const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/**
 * Applies what is missing. `record` is called for each file before it is touched (the ledger), so a run
 * killed halfway leaves doctor cleanup what it needs. Returns the files changed and the services restarted:
 * none of either on a controller already set up.
 */
export async function setUpController(
  ssh: Pick<SshSession, 'exec' | 'readFile' | 'writeFile'>, layout: ControllerLayout, runId: string, record: (change: ControllerFileChange) => void,
): Promise<{ changed: ControllerFileChange[]; restarted: ControllerService[] }> {
  const byPath = new Map<string, { text: string; next: string; edits: Edit[] }>();
  for (const e of editsFor(layout)) {
    let cur = byPath.get(e.path);
    if (!cur) {
      const text = await ssh.readFile(e.path).catch((err: Error) => {
        throw new HarnessError(`cannot read ${e.path} on the controller (${err.message}): is ${e.service} installed there, and is this the installer's layout?`, { cause: err });
      });
      cur = { text, next: text, edits: [] };
      byPath.set(e.path, cur);
    }
    const next = e.apply(cur.next);
    if (next !== cur.next) {
      cur.next = next;
      cur.edits.push(e);
    }
  }
  const changed: ControllerFileChange[] = [];
  for (const [path, f] of byPath) {
    if (!f.edits.length) continue;
    const change: ControllerFileChange = { path, backup: `${path}.doctor-${runId}.bak`, service: f.edits[0]!.service, what: f.edits.map((e) => e.what).join(', ') };
    record(change);
    const staged = `${path}.doctor-${runId}.new`;
    await must(ssh, `cp -p -- ${q(path)} ${q(change.backup)}`);
    await ssh.writeFile(staged, f.next, 0o600);
    // Written through the original (cat >): its owner, mode and inode stay those the service expects.
    await must(ssh, `cat -- ${q(staged)} > ${q(path)} && rm -f -- ${q(staged)}`);
    changed.push(change);
  }
  const restarted = [...new Set(changed.map((c) => c.service))];
  for (const s of restarted) await must(ssh, layout.restart[s], 120_000);
  return { changed, restarted };
}

/** Puts every changed file back from its backup, byte for byte, then restarts their services. */
export async function restoreController(
  ssh: Pick<SshSession, 'exec'>, changes: Array<Pick<ControllerFileChange, 'path' | 'backup' | 'service'>>, restart: Partial<Record<ControllerService, string>>,
): Promise<{ restored: string[]; restarted: ControllerService[] }> {
  const restored: string[] = [];
  for (const c of [...changes].reverse()) {
    // No backup: the run died before it copied one, so it never wrote the file either.
    const r = await must(ssh, `if [ -e ${q(c.backup)} ]; then cp -p -- ${q(c.backup)} ${q(c.path)} && rm -f -- ${q(c.backup)} && echo restored; fi; rm -f -- ${q(c.backup.replace(/\.bak$/, '.new'))}`);
    if (r.includes('restored')) restored.push(c.path);
  }
  const restarted = [...new Set(changes.filter((c) => restored.includes(c.path)).map((c) => c.service))];
  for (const s of restarted) {
    const cmd = restart[s];
    if (cmd) await must(ssh, cmd, 120_000);
  }
  return { restored, restarted };
}

async function must(ssh: Pick<SshSession, 'exec'>, command: string, timeoutMs = 30_000): Promise<string> {
  const r = await ssh.exec(command, timeoutMs);
  if (r.code !== 0) throw new HarnessError(`"${command}" on the controller failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout;
}

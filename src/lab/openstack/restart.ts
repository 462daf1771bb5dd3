/**
 * What a run's controller set-up needs of the lab, as a deployment's installer provides it: where the
 * controller's files are, and a restart command per service that returns once the service works again
 * (`doctor lab openstack restart <service>`, run on the controller over SSH, like devstack's
 * `systemctl restart devstack@…`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { HarnessError, type Runner, runProcess, shellQuote } from '../../shared/index.js';
import { rabbitctl } from './base.js';
import { novaProfileHooks, startNovaApi } from './compute.js';
import { httpAnswers, labOn, readOpenStackState, serviceDir, waitFor, type Lab, type OpenStackLabState } from './context.js';
import { stopTagged } from './procs.js';
import { isRestartableService, RESTARTABLE_SERVICES, type RestartableService } from '../catalog/index.js';
import { isRunning, service, type ServiceKey } from './services.js';
import { startAodh, startCeilometer, telemetryFiles } from './telemetry.js';

interface Restartable {
  key: ServiceKey;
  start(lab: Lab): number;
  /** Working again: a new consumer on the RabbitMQ queue it listens to, or its API answering. */
  ready: { queue: string } | { http: (s: OpenStackLabState) => string };
  log: (s: OpenStackLabState) => string;
}

const RESTARTABLE: Record<RestartableService, Restartable> = {
  // Ceilometer's notification agent consumes Nova's notifications; Aodh's listener, the events published to alarm.all.
  ceilometer: { key: 'ceilometer', start: startCeilometer, ready: { queue: 'notifications.info' }, log: (s) => join(s.stateDir, 'ceilometer', 'ceilometer-agent-notification.log') },
  'aodh-listener': { key: 'aodh-listener', start: (lab) => startAodh(lab, 'aodh-listener'), ready: { queue: 'alarm.all.sample' }, log: (s) => join(s.stateDir, 'aodh', 'aodh-listener.log') },
  'nova-api': { key: 'nova-api', start: startNovaApi, ready: { http: (s) => `http://${s.address}:${s.ports.nova}/` }, log: (s) => join(s.stateDir, 'nova', 'uwsgi.log') },
};


/** The channels consuming from `queue` (one per consuming connection's channel). */
async function consumers(lab: Lab, queue: string): Promise<string[]> {
  const r = await rabbitctl(lab, ['list_consumers', '--quiet', 'queue_name', 'channel_pid']);
  if (r.exitCode !== 0) throw new HarnessError(`rabbitmqctl list_consumers failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === queue && f[1]).map((f) => f[1]!);
}

/** The sockets on `port` in the controller's namespace other than TIME-WAIT ones, with their processes (ss), on one line. */
async function portHolders(lab: Lab, port: number): Promise<string> {
  const r = await lab.run('ss', ['-Htanp', 'state', 'all', `( sport = :${port} )`], { timeoutMs: 10_000 });
  return r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l && !l.startsWith('TIME-WAIT')).slice(0, 5).join('; ');
}

/** Stops one of the lab's services and starts it again on its files as they are; returns once it works again. */
export async function openstackRestart(opts: { stateDir: string; service: string; progress?: (line: string) => void; run?: Runner }): Promise<{ pid: number; ms: number }> {
  const r = isRestartableService(opts.service) ? RESTARTABLE[opts.service] : undefined;
  if (!r) throw new HarnessError(`the lab restarts ${RESTARTABLE_SERVICES.join(', ')}; not "${opts.service}"`);
  const s = readOpenStackState(opts.stateDir);
  if (!s) throw new HarnessError(`no OpenStack lab at ${opts.stateDir}`);
  if (s.phase !== 'up') throw new HarnessError(`the OpenStack lab at ${opts.stateDir} is not up (it is being created, or its bring-up failed): run doctor lab openstack up first`);
  const say = opts.progress ?? (() => {});
  const lab = labOn(s, opts.run ?? runProcess, say);
  const t0 = Date.now();
  const queue = 'queue' in r.ready ? r.ready.queue : undefined;
  const before = new Set(queue ? await consumers(lab, queue) : []);
  const svc = service(r.key);
  say(`stopping ${svc.label}`);
  await stopTagged(s.stateDir, svc.is, svc.graceMs);
  say(`starting ${svc.label}`);
  let pid = r.start(lab);
  lab.started(r.key, pid);
  if (queue) await waitFor(async () => (await consumers(lab, queue)).some((c) => !before.has(c)), `${svc.label} (a new consumer on RabbitMQ's ${queue} queue)`, r.log(s));
  else if ('http' in r.ready) {
    // A server that could not bind its port (something still held it as the old one went) exits at once: start it again, saying what held the port.
    const url = r.ready.http(s);
    let startedAt = Date.now();
    let held = '';
    try {
      await waitFor(async () => {
        if (await httpAnswers(url, [200])) return true;
        if (!isRunning(s.stateDir, r.key) && Date.now() - startedAt > 1_000) {
          held = await portHolders(lab, Number(new URL(url).port));
          say(`${svc.label} (PID ${pid}) exited while starting${held ? `; its port: ${held}` : ''}; starting it again`);
          pid = r.start(lab);
          lab.started(r.key, pid);
          startedAt = Date.now();
        }
        return false;
      }, svc.label, r.log(s));
    } catch (err) {
      throw held ? new HarnessError(`${(err as Error).message}; its port was held by: ${held}`, { cause: err }) : err;
    }
  }
  const ms = Date.now() - t0;
  say(`${svc.label} restarted in ${(ms / 1000).toFixed(1)} s (PID ${pid})`);
  return { pid, ms };
}

/** This checkout's CLI, whether the lab runs from the sources (tsx) or from dist/. */
const DOCTOR_BIN = fileURLToPath(new URL('../../../bin/doctor.js', import.meta.url));

/**
 * The controller layout file a run reads (`controllerLayout` in the lab's doctor.yaml): the files a
 * set-up edits and each service's restart command, run on the controller over SSH.
 */
export function writeControllerLayout(s: OpenStackLabState): string {
  const restart = (svc: string) => [process.execPath, DOCTOR_BIN, 'lab', 'openstack', 'restart', svc, '--state-dir', s.stateDir].map(shellQuote).join(' ');
  const path = join(s.stateDir, 'controller-layout.yaml');
  const layout = {
    ...telemetryFiles(s), novaConf: join(serviceDir(s, 'nova'), 'nova.conf'), ceilometerConf: join(serviceDir(s, 'ceilometer'), 'ceilometer.conf'),
    restart: { ceilometer: restart('ceilometer'), aodh: restart('aodh-listener'), nova: restart('nova-api') },
    profile: novaProfileHooks(s),
    logs: {
      novaApi: join(serviceDir(s, 'nova'), 'nova-api-wsgi.log'),
      ceilometerNotification: join(serviceDir(s, 'ceilometer'), 'ceilometer-agent-notification.log'),
      aodhListener: join(s.stateDir, 'aodh', 'aodh-listener.log'),
    },
  };
  writeFileSync(path, `# Where doctor run finds this lab's controller files and how it restarts their services.\n${stringify(layout, { lineWidth: 0 })}`, { mode: 0o600 });
  return path;
}

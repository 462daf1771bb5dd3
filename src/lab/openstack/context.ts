import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectionError, HarnessError, type Runner, TimeoutError } from '../../shared/index.js';
import { OpenStackClient, type CloudCredentials } from '../../openstack/index.js';
import { startService } from './procs.js';
import { isRunning, type ServiceKey } from './services.js';
import type { PortName } from '../catalog/index.js';

export interface OpenStackLabState {
  version: 3;
  stateDir: string;
  /** The controller host's lab address: every service listens there, inside its namespace. */
  address: string;
  controllerNamespace: string;
  phase: 'creating' | 'up';
  ports: Record<PortName, number>;
  /** Fake nova-computes, one per namespace host of the embedded lab in `hostsDir`. */
  computes: number;
  /** uwsgi processes serving Nova's API: they bound how many reset-state calls run at once. */
  novaApiWorkers: number;
  labId: string;
  hostsDir: string;
  /** PIDs as started (informational: down finds processes by the lab's tag, whatever became of them). */
  pids: Record<string, number>;
  cloudsYaml: string;
  /** A doctor run config file with the lab hosts' SSH key and known_hosts. */
  runConfig: string;
}

/** What every service step gets: the state, a process runner, a progress line. */
export interface Lab {
  s: OpenStackLabState;
  run: Runner;
  say: (line: string) => void;
  /** Records the PID in the state file. */
  started(name: string, pid: number): void;
}

const STATE = 'openstack.json';

export function readOpenStackState(stateDir: string): OpenStackLabState | undefined {
  const p = join(stateDir, STATE);
  if (!existsSync(p)) return undefined;
  const s = JSON.parse(readFileSync(p, 'utf8')) as OpenStackLabState;
  if (s.version !== 3) throw new HarnessError(`${p} is from an older doctor-harness; run "doctor lab openstack down --state-dir ${stateDir}" and bring the lab up again`);
  return s;
}

export function saveState(s: OpenStackLabState): void {
  writeFileSync(join(s.stateDir, STATE), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

/** What each service step gets; set-up commands (database migrations, rabbitmqctl) run on the controller, as an installer runs them. */
export function labOn(s: OpenStackLabState, run: Runner, say: (line: string) => void): Lab {
  const onController: Runner = (file, args, o) => run('ip', ['netns', 'exec', s.controllerNamespace, file, ...args], o);
  return { s, run: onController, say, started: (name, pid) => { s.pids[name] = pid; saveState(s); } };
}

export const READY_MS = 90_000;

/** Starts a service unless it already runs (then `up` leaves it alone), saying so and recording its PID. */
export function ensureRunning(lab: Lab, key: ServiceKey, start: () => number, what?: string): void {
  if (isRunning(lab.s.stateDir, key)) return;
  if (what) lab.say(`starting ${what}`);
  lab.started(key, start());
}

/** A secret generated once and kept 0600 in the lab folder. */
export function secret(stateDir: string, name: string): string {
  const dir = join(stateDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = join(dir, name);
  if (!existsSync(p)) writeFileSync(p, randomBytes(18).toString('base64url'), { mode: 0o600 });
  return readFileSync(p, 'utf8').trim();
}

/** A service's own folder (0700: its config holds passwords). */
export function serviceDir(s: OpenStackLabState, name: string): string {
  const dir = join(s.stateDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** An ini file from sections; 0600 because it holds passwords. */
export function writeIni(path: string, sections: Record<string, Record<string, string | number | boolean>>): void {
  const text = Object.entries(sections)
    .map(([name, opts]) => [`[${name}]`, ...Object.entries(opts).map(([k, v]) => `${k} = ${v}`)].join('\n'))
    .join('\n\n');
  writeFileSync(path, `${text}\n`, { mode: 0o600 });
}

export function dbUrl(s: OpenStackLabState, user: string, db = user): string {
  return `mysql+pymysql://${user}:${secret(s.stateDir, `${user}-db`)}@${s.address}:${s.ports.mysql}/${db}`;
}

export function transportUrl(s: OpenStackLabState): string {
  return `rabbit://openstack:${secret(s.stateDir, 'rabbit')}@${s.address}:${s.ports.rabbit}/`;
}

export function keystoneUrl(s: OpenStackLabState): string {
  return `http://${s.address}:${s.ports.keystone}/v3`;
}

/** The lab Keystone's admin: what clouds.yaml says and what registers the services. */
export function adminCredentials(s: OpenStackLabState): CloudCredentials {
  return {
    authUrl: keystoneUrl(s), username: 'admin', password: secret(s.stateDir, 'admin'), userDomainName: 'Default',
    projectName: 'admin', projectDomainName: 'Default', regionName: 'RegionOne', interface: 'public', insecure: false, endpointOverrides: {}, source: 'the OpenStack lab',
    // The services trace requests signed with this key (OSProfiler): a doctor run against the lab is profiled.
    profileKey: secret(s.stateDir, 'osprofiler'),
  };
}

/** Where the services write their OSProfiler spans (a Redis of the lab's own). */
export function osprofilerConnection(s: OpenStackLabState): string {
  return `redis://${s.address}:${s.ports.redis}`;
}

/** The [profiler] section of a service that traces signed requests (and its SQL, for the cloud's checkpoints). */
export function profilerSection(s: OpenStackLabState): Record<string, string | boolean> {
  return { enabled: true, hmac_keys: secret(s.stateDir, 'osprofiler'), connection_string: osprofilerConnection(s), trace_sqlalchemy: true };
}

/** A service user's password credentials (keystoneauth options), for [keystone_authtoken] and the service-to-service sections. */
export function serviceAuth(s: OpenStackLabState, user: string): Record<string, string> {
  return {
    auth_url: keystoneUrl(s), auth_type: 'password', project_domain_name: 'Default', user_domain_name: 'Default',
    project_name: 'service', username: user, password: secret(s.stateDir, user), region_name: 'RegionOne',
  };
}

/** keystonemiddleware settings for a service user. */
export function authtoken(s: OpenStackLabState, user: string): Record<string, string> {
  return { www_authenticate_uri: keystoneUrl(s), ...serviceAuth(s, user) };
}

/** The lab's service users and catalog: who each is and where it answers. */
export function catalog(s: OpenStackLabState): Array<{ user: string; type: string; url: string }> {
  const at = (port: number, path = '') => `http://${s.address}:${port}${path}`;
  return [
    { user: 'placement', type: 'placement', url: at(s.ports.placement) },
    { user: 'glance', type: 'image', url: at(s.ports.glance) },
    { user: 'neutron', type: 'network', url: at(s.ports.neutron) },
    { user: 'nova', type: 'compute', url: at(s.ports.nova, '/v2.1') },
    { user: 'aodh', type: 'alarming', url: at(s.ports.aodh) },
  ];
}

/**
 * Each service user (admin in the "service" project) and catalog entry, once.
 * One after the other: Keystone answered 403 to an admin when these ran concurrently.
 */
export async function registerServices(s: OpenStackLabState): Promise<void> {
  const c = OpenStackClient.create({ credentials: adminCredentials(s) });
  try {
    // Keystone answering its version document does not mean it issues tokens yet: wait for the first one.
    await waitFor(async () => {
      try {
        await c.session.token();
        return true;
      } catch (err) {
        if (err instanceof ConnectionError || err instanceof TimeoutError) return false;
        throw err;
      }
    }, 'Keystone (a first token)', join(s.stateDir, 'keystone', 'uwsgi.log'));
    const project = (await c.identity.findProject('service')) ?? (await c.identity.createProject({ name: 'service', description: 'Service project' }));
    const admin = await c.identity.findRole('admin');
    if (!admin) throw new HarnessError('the lab Keystone has no admin role');
    for (const { user, type, url } of catalog(s)) {
      const u = (await c.identity.findUser(user)) ?? (await c.identity.createUser({ name: user, password: secret(s.stateDir, user), defaultProjectId: project.id }));
      await c.identity.assignProjectRole(project.id, u.id, admin.id);
      if (!(await c.identity.findService(type))) {
        const svc = await c.identity.createService({ type, name: user });
        for (const iface of ['public', 'internal', 'admin'] as const) await c.identity.createEndpoint({ serviceId: svc.id, interface: iface, url });
      }
    }
  } finally {
    c.close();
  }
}

/** A WSGI service under uwsgi on the controller's address. Keystone drops reused connections under uwsgi: every answer closes. */
export function startUwsgi(lab: Lab, dir: string, port: number, wsgiFile: string, env: Record<string, string>, workers = { processes: 1, threads: 4 }): number {
  // lazy-apps: each worker loads the app after the fork (as Debian's and devstack's uwsgi files do), so none inherits the master's database connections.
  return startService('/usr/bin/uwsgi', [
    '--plugin', 'python3', '--http-socket', `${lab.s.address}:${port}`, '--wsgi-file', wsgiFile, '--lazy-apps', '--enable-threads', '--buffer-size', '65535',
    '--master', '--processes', String(workers.processes), '--threads', String(workers.threads), '--die-on-term', '--add-header', 'Connection: close', '--chdir', dir,
  ], { log: join(dir, 'uwsgi.log'), env, cwd: dir, tag: lab.s.stateDir, netns: lab.s.controllerNamespace });
}

/** A Python service (`/usr/bin/<name> --config-file <conf>`), output to `<name>.out` in its folder. */
export function startPython(lab: Lab, dir: string, bin: string, conf: string, opts: { logName?: string; wrapper?: { script: string; env: Record<string, string> } } = {}): number {
  // A wrapper (the lab's profiled entry points) runs on the same python3 as Nova's own script.
  const [exe, args] = opts.wrapper ? ['/usr/bin/python3', [opts.wrapper.script]] : [`/usr/bin/${bin}`, []];
  return startService(exe, [...args, '--config-file', conf], {
    log: join(dir, `${opts.logName ?? bin}.out`), cwd: dir, tag: lab.s.stateDir, netns: lab.s.controllerNamespace, ...(opts.wrapper ? { env: opts.wrapper.env } : {}),
  });
}

/** Waits until `url` answers one of `statuses` (an unauthenticated version document). */
/** `url` answers one of `statuses` now (within 2 s). */
export async function httpAnswers(url: string, statuses: number[]): Promise<boolean> {
  try {
    return statuses.includes((await fetch(url, { signal: AbortSignal.timeout(2_000) })).status);
  } catch {
    return false;
  }
}

export function waitForHttp(url: string, statuses: number[], what: string, log: string): Promise<void> {
  return waitFor(() => httpAnswers(url, statuses), what, log);
}

export async function waitFor(check: () => Promise<boolean>, what: string, log: string, timeoutMs = READY_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new HarnessError(`${what} was not ready within ${timeoutMs / 1000} s; ${logTail(log)}`);
}

export function logTail(log: string): string {
  const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
  return `its log (${log}) ends: ${tail || '(nothing)'}`;
}

/** Runs a set-up command that must succeed; its output's last lines explain a failure. */
export async function must(run: Runner, file: string, args: string[], input?: string, env?: Record<string, string>) {
  const r = await run(file, args, { ...(input !== undefined ? { input } : {}), ...(env ? { env } : {}), timeoutMs: 300_000 });
  if (r.exitCode !== 0) throw new HarnessError(`${file} ${args.filter((a) => !a.startsWith('-') && !a.includes('/')).join(' ')} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

export function uid(user: string): number {
  return idOf('/etc/passwd', user);
}

export function gid(group: string): number {
  return idOf('/etc/group', group);
}

function idOf(file: string, name: string): number {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new HarnessError(`no "${name}" in ${file}: run ./scripts/setup --openstack`);
  return Number(line.split(':')[2]);
}

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HarnessError } from '../../shared/errors.js';
import { runProcess, type Runner } from '../../shared/process.js';
import { acquireLock } from '../hosts/state.js';
import { OpenStackClient, toCloudsYaml, type CloudCredentials } from '../../openstack/index.js';
import { startService, stopTagged, taggedProcesses, type TaggedProcess } from './procs.js';

/**
 * The all-in-one OpenStack lab: real services from Debian's packages on
 * 127.0.0.1, all state in one folder, every process tagged with the lab in its
 * environment. So far: MariaDB, RabbitMQ, Keystone, Placement, Glance; Neutron,
 * Nova, Ceilometer and Aodh follow.
 */
export interface OpenStackLabOptions {
  stateDir: string;
  keystonePort?: number;
  mysqlPort?: number;
  /** AMQP port; Erlang's epmd and distribution ports are this + 1 and + 2. */
  rabbitPort?: number;
  placementPort?: number;
  glancePort?: number;
  progress?: (line: string) => void;
  run?: Runner;
}

export interface OpenStackLabState {
  version: 1;
  stateDir: string;
  phase: 'creating' | 'up';
  mysql: { port: number; pid?: number };
  keystone: { port: number; pid?: number };
  rabbit?: { port: number; pid?: number; epmdPid?: number };
  placement?: { port: number; pid?: number };
  glance?: { port: number; pid?: number };
  cloudsYaml: string;
}

const BINARIES: Array<[string, string]> = [
  ['/usr/sbin/mariadbd', 'mariadb-server'],
  ['/usr/bin/mariadb-install-db', 'mariadb-server'],
  ['/usr/bin/keystone-manage', 'keystone'],
  ['/usr/bin/keystone-wsgi-public', 'keystone'],
  ['/usr/bin/uwsgi', 'uwsgi-core'],
  ['/usr/lib/uwsgi/plugins/python3_plugin.so', 'uwsgi-plugin-python3'],
  ['/usr/lib/python3/dist-packages/pymysql', 'python3-pymysql'],
  ['/usr/sbin/rabbitmq-server', 'rabbitmq-server'],
  ['/usr/sbin/rabbitmqctl', 'rabbitmq-server'],
  ['/usr/bin/placement-api', 'placement-api'],
  ['/usr/bin/placement-manage', 'placement-api'],
  ['/usr/bin/glance-api', 'glance-api'],
  ['/usr/bin/glance-manage', 'glance-api'],
];

const STATE = 'openstack.json';
const READY_MS = 60_000;

/** The lab's services in start order (down stops them in reverse): how to recognise each, how long it may take to stop. */
const SERVICES = [
  { key: 'mariadb', label: 'MariaDB', graceMs: 30_000, is: (p: TaggedProcess) => p.cmd.startsWith('/usr/sbin/mariadbd') },
  { key: 'epmd', label: 'epmd', graceMs: 5_000, is: (p: TaggedProcess) => p.cmd.startsWith('epmd') },
  { key: 'rabbitmq', label: 'RabbitMQ', graceMs: 30_000, is: (p: TaggedProcess) => p.cmd.includes('beam.smp') },
  { key: 'keystone', label: 'Keystone', graceMs: 10_000, is: (p: TaggedProcess) => p.cmd.startsWith('/usr/bin/uwsgi') && p.cmd.includes('keystone-wsgi-public') },
  { key: 'placement', label: 'Placement', graceMs: 10_000, is: (p: TaggedProcess) => p.cmd.startsWith('/usr/bin/uwsgi') && p.cmd.includes('placement-api') },
  { key: 'glance', label: 'Glance', graceMs: 10_000, is: (p: TaggedProcess) => p.cmd.includes('glance-api') },
] as const;
type ServiceKey = (typeof SERVICES)[number]['key'];

function running(stateDir: string, key: ServiceKey): boolean {
  const service = SERVICES.find((x) => x.key === key)!;
  return taggedProcesses(stateDir).some(service.is);
}

export function readOpenStackState(stateDir: string): OpenStackLabState | undefined {
  const p = join(stateDir, STATE);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as OpenStackLabState) : undefined;
}

function save(s: OpenStackLabState): void {
  writeFileSync(join(s.stateDir, STATE), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

/** A secret generated once and kept 0600 in the lab folder. */
function secret(stateDir: string, name: string): string {
  const dir = join(stateDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = join(dir, name);
  if (!existsSync(p)) writeFileSync(p, randomBytes(18).toString('base64url'), { mode: 0o600 });
  return readFileSync(p, 'utf8').trim();
}

export async function openstackUp(opts: OpenStackLabOptions): Promise<OpenStackLabState> {
  const run = opts.run ?? runProcess;
  const say = opts.progress ?? (() => {});
  if (process.getuid?.() !== 0) throw new HarnessError('the OpenStack lab needs root (it runs MariaDB and the OpenStack services as their users)');
  const missing = [...new Set(BINARIES.filter(([f]) => !existsSync(f)).map(([, pkg]) => pkg))];
  if (missing.length) throw new HarnessError(`the OpenStack lab needs Debian packages that are missing: ${missing.join(', ')}; run ./scripts/setup --openstack`);
  // MariaDB runs as mysql: it must be able to traverse to its data (secrets stay in a 0700 folder).
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(opts.stateDir, 0o711);
  const unlock = acquireLock(opts.stateDir);
  try {
    const s: OpenStackLabState = readOpenStackState(opts.stateDir) ?? {
      version: 1, stateDir: opts.stateDir, phase: 'creating',
      mysql: { port: opts.mysqlPort ?? 13306 }, keystone: { port: opts.keystonePort ?? 5000 }, cloudsYaml: join(opts.stateDir, 'clouds.yaml'),
    };
    s.rabbit ??= { port: opts.rabbitPort ?? 5672 };
    s.placement ??= { port: opts.placementPort ?? 8778 };
    s.glance ??= { port: opts.glancePort ?? 9292 };
    s.phase = 'creating';
    save(s);
    await mariadb(s, run, say);
    await rabbit(s, run, say);
    await keystone(s, run, say);
    await placement(s, run, say);
    await glance(s, run, say);
    writeFileSync(s.cloudsYaml, toCloudsYaml('doctor-openstack', adminCredentials(s)), { mode: 0o600 });
    s.phase = 'up';
    save(s);
    say(`OpenStack lab up: Keystone http://127.0.0.1:${s.keystone.port}/v3; clouds.yaml entry "doctor-openstack" in ${s.cloudsYaml}`);
    return s;
  } finally {
    unlock();
  }
}

async function mariadb(s: OpenStackLabState, run: Runner, say: (l: string) => void): Promise<void> {
  const data = join(s.stateDir, 'mysql');
  const runDir = join(s.stateDir, 'mysql-run');
  const socket = join(runDir, 'mysqld.sock');
  for (const d of [data, runDir]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
    chownSync(d, uid('mysql'), gid('mysql'));
  }
  if (!running(s.stateDir, 'mariadb')) {
    if (!readdirSync(data).includes('mysql')) {
      say('initialising MariaDB');
      await must(run, 'mariadb-install-db', ['--user=mysql', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db']);
    }
    say(`starting MariaDB on 127.0.0.1:${s.mysql.port}`);
    s.mysql.pid = startService('/usr/sbin/mariadbd', [
      '--user=mysql', `--datadir=${data}`, `--socket=${socket}`, '--bind-address=127.0.0.1', `--port=${s.mysql.port}`,
      `--pid-file=${join(runDir, 'mysqld.pid')}`, '--skip-name-resolve', '--skip-log-bin',
    ], { log: join(s.stateDir, 'mariadb.log'), tag: s.stateDir });
    save(s);
  }
  await waitFor(async () => (await run('mysqladmin', [`--socket=${socket}`, 'ping'])).exitCode === 0, 'MariaDB', join(s.stateDir, 'mariadb.log'));
  for (const db of ['keystone', 'placement', 'glance']) await database(s, run, db);
}

/** A database and its user, through root's socket with the password over stdin: no secret on a command line. */
async function database(s: OpenStackLabState, run: Runner, name: string): Promise<void> {
  const pw = secret(s.stateDir, `${name}-db`);
  const sql = [
    `CREATE DATABASE IF NOT EXISTS ${name};`,
    `CREATE USER IF NOT EXISTS '${name}'@'127.0.0.1' IDENTIFIED BY '${pw}';`,
    `ALTER USER '${name}'@'127.0.0.1' IDENTIFIED BY '${pw}';`,
    `GRANT ALL ON ${name}.* TO '${name}'@'127.0.0.1';`,
  ].join('\n');
  await must(run, 'mysql', [`--socket=${join(s.stateDir, 'mysql-run', 'mysqld.sock')}`], sql);
}

function dbUrl(s: OpenStackLabState, name: string): string {
  return `mysql+pymysql://${name}:${secret(s.stateDir, `${name}-db`)}@127.0.0.1:${s.mysql.port}/${name}`;
}

/** The lab Keystone's admin: what clouds.yaml says and what registers the services. */
function adminCredentials(s: OpenStackLabState): CloudCredentials {
  return {
    authUrl: `http://127.0.0.1:${s.keystone.port}/v3`, username: 'admin', password: secret(s.stateDir, 'admin'), userDomainName: 'Default',
    projectName: 'admin', projectDomainName: 'Default', regionName: 'RegionOne', interface: 'public', insecure: false, endpointOverrides: {}, source: 'the OpenStack lab',
  };
}

/** A service user (admin in the "service" project) and the service's catalog entry, once. */
async function register(s: OpenStackLabState, user: string, type: string, url: string): Promise<void> {
  const c = OpenStackClient.create({ credentials: adminCredentials(s) });
  try {
    const project = (await c.identity.findProject('service')) ?? (await c.identity.createProject({ name: 'service', description: 'Service project' }));
    const u = (await c.identity.findUser(user)) ?? (await c.identity.createUser({ name: user, password: secret(s.stateDir, user), defaultProjectId: project.id }));
    const admin = await c.identity.findRole('admin');
    if (!admin) throw new HarnessError('the lab Keystone has no admin role');
    await c.identity.assignProjectRole(project.id, u.id, admin.id);
    if (!(await c.identity.findService(type))) {
      const svc = await c.identity.createService({ type, name: user });
      for (const iface of ['public', 'internal', 'admin'] as const) await c.identity.createEndpoint({ serviceId: svc.id, interface: iface, url });
    }
  } finally {
    c.close();
  }
}

/** A WSGI service under uwsgi on loopback. Keystone drops reused connections under uwsgi: every answer closes. */
function startUwsgi(s: OpenStackLabState, dir: string, port: number, wsgiFile: string, env: Record<string, string>): number {
  return startService('/usr/bin/uwsgi', [
    '--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--wsgi-file', wsgiFile,
    '--master', '--processes', '1', '--threads', '4', '--die-on-term', '--add-header', 'Connection: close', '--chdir', dir,
  ], { log: join(dir, 'uwsgi.log'), env, cwd: dir, tag: s.stateDir });
}

/** Waits until `url` answers one of `statuses` (an unauthenticated version document). */
function waitForHttp(url: string, statuses: number[], what: string, log: string): Promise<void> {
  return waitFor(async () => {
    try {
      return statuses.includes((await fetch(url, { signal: AbortSignal.timeout(2_000) })).status);
    } catch {
      return false;
    }
  }, what, log);
}

/** keystonemiddleware settings for a service user. */
function authtoken(s: OpenStackLabState, user: string): string[] {
  const v3 = `http://127.0.0.1:${s.keystone.port}/v3`;
  return [
    '[keystone_authtoken]', `www_authenticate_uri = ${v3}`, `auth_url = ${v3}`, 'auth_type = password',
    'project_domain_name = Default', 'user_domain_name = Default', 'project_name = service', `username = ${user}`, `password = ${secret(s.stateDir, user)}`,
  ];
}

async function placement(s: OpenStackLabState, run: Runner, say: (l: string) => void): Promise<void> {
  const p = s.placement!;
  const dir = join(s.stateDir, 'placement');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const url = `http://127.0.0.1:${p.port}`;
  await register(s, 'placement', 'placement', url);
  writeFileSync(join(dir, 'placement.conf'), [
    '[DEFAULT]', `log_dir = ${dir}`,
    '[api]', 'auth_strategy = keystone',
    ...authtoken(s, 'placement'),
    '[placement_database]', `connection = ${dbUrl(s, 'placement')}`,
    '',
  ].join('\n'), { mode: 0o600 });
  if (!running(s.stateDir, 'placement')) {
    say('preparing Placement (db sync)');
    await must(run, 'placement-manage', ['--config-file', join(dir, 'placement.conf'), 'db', 'sync']);
    say(`starting Placement on 127.0.0.1:${p.port}`);
    p.pid = startUwsgi(s, dir, p.port, '/usr/bin/placement-api', { OS_PLACEMENT_CONFIG_DIR: dir });
    save(s);
  }
  await waitForHttp(`${url}/`, [200], 'Placement', join(dir, 'uwsgi.log'));
}

async function keystone(s: OpenStackLabState, run: Runner, say: (l: string) => void): Promise<void> {
  const dir = join(s.stateDir, 'keystone');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'keystone.conf');
  writeFileSync(conf, [
    '[DEFAULT]', `log_dir = ${dir}`,
    '[database]', `connection = ${dbUrl(s, 'keystone')}`,
    '[token]', 'provider = fernet',
    '[fernet_tokens]', `key_repository = ${join(dir, 'fernet-keys')}`,
    '[fernet_receipts]', `key_repository = ${join(dir, 'fernet-keys')}`,
    '[credential]', `key_repository = ${join(dir, 'credential-keys')}`,
    '',
  ].join('\n'), { mode: 0o600 });
  const url = `http://127.0.0.1:${s.keystone.port}/v3/`;
  if (!running(s.stateDir, 'keystone')) {
    say('preparing Keystone (db_sync, keys, bootstrap)');
    await must(run, 'keystone-manage', ['--config-file', conf, 'db_sync']);
    if (!existsSync(join(dir, 'fernet-keys'))) await must(run, 'keystone-manage', ['--config-file', conf, 'fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root']);
    if (!existsSync(join(dir, 'credential-keys'))) await must(run, 'keystone-manage', ['--config-file', conf, 'credential_setup', '--keystone-user', 'root', '--keystone-group', 'root']);
    // The admin password goes through the environment (OS_BOOTSTRAP_PASSWORD), never argv.
    const bootstrap = ['--config-file', conf, 'bootstrap', '--bootstrap-admin-url', url, '--bootstrap-public-url', url, '--bootstrap-internal-url', url, '--bootstrap-region-id', 'RegionOne'];
    await must(run, 'keystone-manage', bootstrap, undefined, { OS_BOOTSTRAP_PASSWORD: secret(s.stateDir, 'admin') });
    say(`starting Keystone on 127.0.0.1:${s.keystone.port}`);
    s.keystone.pid = startUwsgi(s, dir, s.keystone.port, '/usr/bin/keystone-wsgi-public', { OS_KEYSTONE_CONFIG_FILES: conf });
    save(s);
  }
  await waitForHttp(url, [200], 'Keystone', join(dir, 'uwsgi.log'));
}

/** Erlang's port mapper and distribution ports: loopback only, next to the AMQP port. */
function rabbitEnv(s: OpenStackLabState): Record<string, string> {
  const r = s.rabbit!;
  const dir = join(s.stateDir, 'rabbitmq');
  return {
    RABBITMQ_NODENAME: 'rabbit@localhost', RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1', RABBITMQ_NODE_PORT: String(r.port),
    RABBITMQ_DIST_PORT: String(r.port + 2), ERL_EPMD_ADDRESS: '127.0.0.1', ERL_EPMD_PORT: String(r.port + 1),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'), RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

async function rabbit(s: OpenStackLabState, run: Runner, say: (l: string) => void): Promise<void> {
  const r = s.rabbit!;
  const dir = join(s.stateDir, 'rabbitmq');
  for (const d of [dir, join(dir, 'mnesia'), join(dir, 'log')]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
    chownSync(d, uid('rabbitmq'), gid('rabbitmq'));
  }
  const env = rabbitEnv(s);
  if (!running(s.stateDir, 'epmd')) {
    // Our own epmd, on loopback and tagged (the one Erlang would start detaches, listens everywhere and lingers).
    r.epmdPid = startService('epmd', ['-port', String(r.port + 1), '-address', '127.0.0.1'], { log: join(dir, 'epmd.log'), tag: s.stateDir });
    save(s);
  }
  const ctlEnv = { ERL_EPMD_PORT: String(r.port + 1) }; // rabbitmqctl must find our epmd
  const ctl = (args: string[], input?: string) =>
    run('rabbitmqctl', ['--node', 'rabbit@localhost', ...args], { ...(input !== undefined ? { input } : {}), timeoutMs: 30_000, env: ctlEnv });
  if (!running(s.stateDir, 'rabbitmq')) {
    say(`starting RabbitMQ on 127.0.0.1:${r.port}`);
    r.pid = startService('/usr/sbin/rabbitmq-server', [], { log: join(dir, 'server.log'), env, cwd: '/var/lib/rabbitmq', tag: s.stateDir });
    save(s);
  }
  await waitFor(async () => (await ctl(['status'])).exitCode === 0, 'RabbitMQ', join(dir, 'server.log'));
  // add_user without a password argument reads it from stdin: no secret on a command line.
  const users = (await ctl(['list_users', '--quiet'])).stdout;
  if (!/^openstack\s/m.test(users)) await must(run, 'rabbitmqctl', ['--node', 'rabbit@localhost', 'add_user', 'openstack'], secret(s.stateDir, 'rabbit'), ctlEnv);
  await must(run, 'rabbitmqctl', ['--node', 'rabbit@localhost', 'set_permissions', 'openstack', '.*', '.*', '.*'], undefined, ctlEnv);
}

async function glance(s: OpenStackLabState, run: Runner, say: (l: string) => void): Promise<void> {
  const g = s.glance!;
  const dir = join(s.stateDir, 'glance');
  mkdirSync(join(dir, 'images'), { recursive: true, mode: 0o700 });
  const url = `http://127.0.0.1:${g.port}`;
  await register(s, 'glance', 'image', url);
  const conf = join(dir, 'glance-api.conf');
  writeFileSync(conf, [
    '[DEFAULT]', `log_dir = ${dir}`, 'bind_host = 127.0.0.1', `bind_port = ${g.port}`, 'workers = 1', 'enabled_backends = fs:file',
    '[glance_store]', 'default_backend = fs',
    '[fs]', `filesystem_store_datadir = ${join(dir, 'images')}`,
    '[database]', `connection = ${dbUrl(s, 'glance')}`,
    ...authtoken(s, 'glance'),
    '[paste_deploy]', 'flavor = keystone', 'config_file = /etc/glance/glance-api-paste.ini',
    '[oslo_concurrency]', `lock_path = ${join(dir, 'lock')}`,
    '',
  ].join('\n'), { mode: 0o600 });
  if (!running(s.stateDir, 'glance')) {
    say('preparing Glance (db_sync)');
    await must(run, 'glance-manage', ['--config-file', conf, 'db_sync']);
    say(`starting Glance on 127.0.0.1:${g.port}`);
    g.pid = startService('/usr/bin/glance-api', ['--config-file', conf], { log: join(dir, 'glance-api.out'), cwd: dir, tag: s.stateDir });
    save(s);
  }
  await waitForHttp(`${url}/versions`, [200, 300], 'Glance', join(dir, 'glance-api.log'));
}

export async function openstackDown(opts: { stateDir: string; progress?: (l: string) => void }): Promise<boolean> {
  const s = readOpenStackState(opts.stateDir);
  if (!s && !existsSync(opts.stateDir)) return false;
  const unlock = acquireLock(opts.stateDir);
  try {
    // By the lab's tag, whatever became of their parents: services first, the databases last.
    for (const service of [...SERVICES].reverse()) {
      if (!running(opts.stateDir, service.key)) continue;
      opts.progress?.(`stopping ${service.label}`);
      await stopTagged(opts.stateDir, service.is, service.graceMs);
    }
    await stopTagged(opts.stateDir); // anything else the lab started
  } finally {
    unlock();
  }
  rmSync(opts.stateDir, { recursive: true, force: true });
  // The default folder's parent (/var/lib/doctor-harness) was made for it: remove it when empty.
  const parent = dirname(opts.stateDir);
  if (basename(parent) === 'doctor-harness') {
    try {
      rmdirSync(parent);
    } catch {
      /* not empty, or not ours to remove */
    }
  }
  return true;
}

export function openstackStatus(stateDir: string): { state?: OpenStackLabState; services: Record<string, boolean> } {
  const s = readOpenStackState(stateDir);
  if (!s) return { services: {} };
  return {
    state: s,
    services: Object.fromEntries(SERVICES.filter((x) => x.key !== 'epmd').map((x) => [x.key, running(stateDir, x.key)])),
  };
}

async function waitFor(check: () => Promise<boolean>, what: string, log: string): Promise<void> {
  const deadline = Date.now() + READY_MS;
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, delay));
  }
  const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ') : '(no log)';
  throw new HarnessError(`${what} was not ready within ${READY_MS / 1000} s; its log ends: ${tail}`);
}

async function must(run: Runner, file: string, args: string[], input?: string, env?: Record<string, string>) {
  const r = await run(file, args, { ...(input !== undefined ? { input } : {}), ...(env ? { env } : {}) });
  if (r.exitCode !== 0) throw new HarnessError(`${file} ${args[0] ?? ''} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

function uid(user: string): number {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new HarnessError(`no ${user} user: is mariadb-server installed?`);
  return Number(line.split(':')[2]);
}

function gid(group: string): number {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
  if (!line) throw new HarnessError(`no ${group} group: is mariadb-server installed?`);
  return Number(line.split(':')[2]);
}

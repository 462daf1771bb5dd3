import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  authtoken, dbUrl, ensureRunning, gid, keystoneUrl, must, secret, serviceDir, startPython, startUwsgi, uid, waitFor, waitForHttp, writeIni, type Lab,
} from './context.js';
import { startService } from './procs.js';
import { isRunning } from './services.js';

/** MariaDB with a private data directory; databases and users are made by `database`. */
export async function mariadb(lab: Lab): Promise<void> {
  const { s, run, say } = lab;
  const data = join(s.stateDir, 'mysql');
  const runDir = join(s.stateDir, 'mysql-run');
  for (const d of [data, runDir]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
    chownSync(d, uid('mysql'), gid('mysql'));
  }
  if (!isRunning(s.stateDir, 'mariadb')) {
    if (!readdirSync(data).includes('mysql')) {
      say('initialising MariaDB');
      await must(run, 'mariadb-install-db', ['--user=mysql', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db']);
    }
    say(`starting MariaDB on ${s.address}:${s.ports.mysql}`);
    lab.started('mariadb', startService('/usr/sbin/mariadbd', [
      '--user=mysql', `--datadir=${data}`, `--socket=${socket(lab)}`, `--bind-address=${s.address}`, `--port=${s.ports.mysql}`,
      `--pid-file=${join(runDir, 'mysqld.pid')}`, '--skip-name-resolve', '--skip-log-bin', '--max-connections=1000',
    ], { log: join(s.stateDir, 'mariadb.log'), tag: s.stateDir, netns: s.controllerNamespace }));
  }
  await waitFor(async () => (await run('mysqladmin', [`--socket=${socket(lab)}`, 'ping'])).exitCode === 0, 'MariaDB', join(s.stateDir, 'mariadb.log'));
}

function socket(lab: Lab): string {
  return join(lab.s.stateDir, 'mysql-run', 'mysqld.sock');
}

/** Databases and their user, through root's socket with the password over stdin: no secret on a command line. */
export async function database(lab: Lab, user: string, names: string[] = [user]): Promise<void> {
  const pw = secret(lab.s.stateDir, `${user}-db`);
  const sql = [
    ...names.map((n) => `CREATE DATABASE IF NOT EXISTS ${n};`),
    // The services connect from the controller's own address (they run in its namespace).
    `CREATE USER IF NOT EXISTS '${user}'@'${lab.s.address}' IDENTIFIED BY '${pw}';`,
    `ALTER USER '${user}'@'${lab.s.address}' IDENTIFIED BY '${pw}';`,
    ...names.map((n) => `GRANT ALL ON ${n}.* TO '${user}'@'${lab.s.address}';`),
  ].join('\n');
  await must(lab.run, 'mysql', [`--socket=${socket(lab)}`], sql);
}

/** AMQP on the controller's address; Erlang's port mapper and distribution ports on its loopback, next to the AMQP port. */
function rabbitEnv(lab: Lab): Record<string, string> {
  const port = lab.s.ports.rabbit;
  const dir = join(lab.s.stateDir, 'rabbitmq');
  return {
    RABBITMQ_NODENAME: 'rabbit@localhost', RABBITMQ_NODE_IP_ADDRESS: lab.s.address, RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(port + 2), ERL_EPMD_ADDRESS: '127.0.0.1', ERL_EPMD_PORT: String(port + 1),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'), RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

/** rabbitmqctl against the lab's node (it must find our epmd). */
export function rabbitctl(lab: Lab, args: string[], input?: string) {
  return lab.run('rabbitmqctl', ['--node', 'rabbit@localhost', ...args], {
    ...(input !== undefined ? { input } : {}), timeoutMs: 30_000, env: { ERL_EPMD_PORT: String(lab.s.ports.rabbit + 1) },
  });
}

export async function rabbit(lab: Lab): Promise<void> {
  const { s } = lab;
  const port = s.ports.rabbit;
  const dir = join(s.stateDir, 'rabbitmq');
  for (const d of [dir, join(dir, 'mnesia'), join(dir, 'log')]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
    chownSync(d, uid('rabbitmq'), gid('rabbitmq'));
  }
  // Our own epmd, on loopback and tagged (the one Erlang would start detaches, listens everywhere and lingers).
  ensureRunning(lab, 'epmd', () => startService('epmd', ['-port', String(port + 1), '-address', '127.0.0.1'], { log: join(dir, 'epmd.log'), tag: s.stateDir, netns: s.controllerNamespace }));
  ensureRunning(lab, 'rabbitmq', () => startService('/usr/sbin/rabbitmq-server', [], { log: join(dir, 'server.log'), env: rabbitEnv(lab), cwd: '/var/lib/rabbitmq', tag: s.stateDir, netns: s.controllerNamespace }), `RabbitMQ on ${s.address}:${port}`);
  await waitFor(async () => (await rabbitctl(lab, ['status'])).exitCode === 0, 'RabbitMQ', join(dir, 'server.log'));
  // add_user without a password argument reads it from stdin: no secret on a command line.
  const users = (await rabbitctl(lab, ['list_users', '--quiet'])).stdout;
  if (!/^openstack\s/m.test(users)) {
    const r = await rabbitctl(lab, ['add_user', 'openstack'], secret(s.stateDir, 'rabbit'));
    if (r.exitCode !== 0) throw new Error(`rabbitmqctl add_user failed: ${r.stderr.trim()}`);
  }
  const r = await rabbitctl(lab, ['set_permissions', 'openstack', '.*', '.*', '.*']);
  if (r.exitCode !== 0) throw new Error(`rabbitmqctl set_permissions failed: ${r.stderr.trim()}`);
}

/** Keystone's database, keys and bootstrap (admin, the identity endpoints). */
export async function keystonePrepare(lab: Lab): Promise<void> {
  const { s, run, say } = lab;
  const dir = serviceDir(s, 'keystone');
  const conf = join(dir, 'keystone.conf');
  writeIni(conf, {
    DEFAULT: { log_dir: dir },
    database: { connection: dbUrl(s, 'keystone') },
    token: { provider: 'fernet' },
    fernet_tokens: { key_repository: join(dir, 'fernet-keys') },
    fernet_receipts: { key_repository: join(dir, 'fernet-keys') },
    credential: { key_repository: join(dir, 'credential-keys') },
  });
  if (isRunning(s.stateDir, 'keystone')) return;
  say('preparing Keystone (db_sync, keys, bootstrap)');
  await must(run, 'keystone-manage', ['--config-file', conf, 'db_sync']);
  if (!existsSync(join(dir, 'fernet-keys'))) await must(run, 'keystone-manage', ['--config-file', conf, 'fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root']);
  if (!existsSync(join(dir, 'credential-keys'))) await must(run, 'keystone-manage', ['--config-file', conf, 'credential_setup', '--keystone-user', 'root', '--keystone-group', 'root']);
  // The admin password goes through the environment (OS_BOOTSTRAP_PASSWORD), never argv.
  const url = `${keystoneUrl(s)}/`;
  const bootstrap = ['--config-file', conf, 'bootstrap', '--bootstrap-admin-url', url, '--bootstrap-public-url', url, '--bootstrap-internal-url', url, '--bootstrap-region-id', 'RegionOne'];
  await must(run, 'keystone-manage', bootstrap, undefined, { OS_BOOTSTRAP_PASSWORD: secret(s.stateDir, 'admin') });
}

export async function keystoneStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const dir = serviceDir(s, 'keystone');
  ensureRunning(lab, 'keystone', () => startUwsgi(lab, dir, s.ports.keystone, '/usr/bin/keystone-wsgi-public', { OS_KEYSTONE_CONFIG_FILES: join(dir, 'keystone.conf') }), `Keystone on ${s.address}:${s.ports.keystone}`);
  await waitForHttp(`${keystoneUrl(s)}/`, [200], 'Keystone', join(dir, 'uwsgi.log'));
}

function placementConf(lab: Lab): string {
  const { s } = lab;
  const dir = serviceDir(s, 'placement');
  writeIni(join(dir, 'placement.conf'), {
    DEFAULT: { log_dir: dir },
    api: { auth_strategy: 'keystone' },
    keystone_authtoken: authtoken(s, 'placement'),
    placement_database: { connection: dbUrl(s, 'placement') },
  });
  return dir;
}

export async function placementPrepare(lab: Lab): Promise<void> {
  const dir = placementConf(lab);
  if (!isRunning(lab.s.stateDir, 'placement')) await must(lab.run, 'placement-manage', ['--config-file', join(dir, 'placement.conf'), 'db', 'sync']);
}

export async function placementStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const url = `http://${s.address}:${s.ports.placement}`;
  const dir = placementConf(lab);
  ensureRunning(lab, 'placement', () => startUwsgi(lab, dir, s.ports.placement, '/usr/bin/placement-api', { OS_PLACEMENT_CONFIG_DIR: dir }), `Placement on ${s.address}:${s.ports.placement}`);
  await waitForHttp(`${url}/`, [200], 'Placement', join(dir, 'uwsgi.log'));
}

function glanceConf(lab: Lab): string {
  const { s } = lab;
  const dir = serviceDir(s, 'glance');
  mkdirSync(join(dir, 'images'), { recursive: true, mode: 0o700 });
  const conf = join(dir, 'glance-api.conf');
  writeIni(conf, {
    DEFAULT: { log_dir: dir, bind_host: s.address, bind_port: s.ports.glance, workers: 1, enabled_backends: 'fs:file' },
    glance_store: { default_backend: 'fs' },
    fs: { filesystem_store_datadir: join(dir, 'images') },
    database: { connection: dbUrl(s, 'glance') },
    keystone_authtoken: authtoken(s, 'glance'),
    paste_deploy: { flavor: 'keystone', config_file: '/etc/glance/glance-api-paste.ini' },
    oslo_concurrency: { lock_path: join(dir, 'lock') },
  });
  return conf;
}

export async function glancePrepare(lab: Lab): Promise<void> {
  const conf = glanceConf(lab);
  if (!isRunning(lab.s.stateDir, 'glance')) await must(lab.run, 'glance-manage', ['--config-file', conf, 'db_sync']);
}

export async function glanceStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const url = `http://${s.address}:${s.ports.glance}`;
  const conf = glanceConf(lab);
  const dir = serviceDir(s, 'glance');
  ensureRunning(lab, 'glance', () => startPython(lab, dir, 'glance-api', conf), `Glance on ${s.address}:${s.ports.glance}`);
  await waitForHttp(`${url}/versions`, [200, 300], 'Glance', join(dir, 'glance-api.log'));
}

/** A Redis of the lab's own, on the controller, in memory only: where the services write their OSProfiler spans. */
export async function redis(lab: Lab): Promise<void> {
  const { s } = lab;
  const dir = serviceDir(s, 'redis');
  ensureRunning(lab, 'redis', () => startService('/usr/bin/redis-server', [
    // Bound to the controller's lab address only (reachable from this machine's lab links alone): protected
    // mode would refuse the harness, which reads the spans from the jump host as from any cloud.
    '--port', String(s.ports.redis), '--bind', s.address, '--protected-mode', 'no', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--set-proc-title', 'no', '--daemonize', 'no',
  ], { log: join(dir, 'redis.log'), cwd: dir, tag: s.stateDir, netns: s.controllerNamespace }), `Redis on ${s.address}:${s.ports.redis} (OSProfiler spans)`);
  await waitFor(() => redisPing(s.address, s.ports.redis), 'Redis', join(dir, 'redis.log'));
}

function redisPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port }, () => sock.write('PING\r\n'));
    sock.setTimeout(1_000, () => sock.destroy());
    sock.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      sock.destroy();
    });
    sock.on('error', () => resolve(false));
    sock.on('close', () => resolve(false));
  });
}

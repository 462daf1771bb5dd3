import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  authtoken, dbUrl, ensureRunning, must, profilerSection, serviceAuth, serviceDir, startPython, startUwsgi, transportUrl, waitForHttp, writeIni, type Lab, type OpenStackLabState,
} from './context.js';
import { isRunning } from './services.js';

/** Where Debian's Ceilometer keeps the files it ships (an installer copies them to /etc/ceilometer). */
const CEILOMETER_DATA = '/usr/lib/python3/dist-packages/ceilometer/pipeline/data';

/**
 * Ceilometer's notification agent turns Nova's notifications into events. Its event pipeline and event
 * definitions are the ones Ceilometer ships (the pipeline publishes to `notifier://` only): as on a fresh
 * deployment, it is a run's controller set-up that adds Aodh's `notifier://?topic=alarm.all` sink.
 * Only the event pipeline runs: no meters, no Gnocchi.
 */
function ceilometerConf(lab: Lab): { dir: string; conf: string } {
  const { s } = lab;
  const dir = serviceDir(s, 'ceilometer');
  const files = { pipeline: join(dir, 'event_pipeline.yaml'), definitions: join(dir, 'event_definitions.yaml') };
  // Installed once, as a package installs them: a run changes them and puts them back, and up leaves them alone.
  for (const [name, path] of [['event_pipeline.yaml', files.pipeline], ['event_definitions.yaml', files.definitions]] as const) {
    if (!existsSync(path)) copyFileSync(join(CEILOMETER_DATA, name), path);
  }
  const conf = join(dir, 'ceilometer.conf');
  writeIni(conf, {
    DEFAULT: { transport_url: transportUrl(s), log_dir: dir, event_pipeline_cfg_file: files.pipeline },
    notification: { pipelines: 'event', workers: 1 },
    event: { definitions_cfg_file: files.definitions },
  });
  return { dir, conf };
}

/** The files a controller set-up edits, as this lab lays them out. */
export function telemetryFiles(s: OpenStackLabState): { eventPipeline: string; eventDefinitions: string; aodhConf: string } {
  return { eventPipeline: join(s.stateDir, 'ceilometer', 'event_pipeline.yaml'), eventDefinitions: join(s.stateDir, 'ceilometer', 'event_definitions.yaml'), aodhConf: join(s.stateDir, 'aodh', 'aodh.conf') };
}

/** Starts the agent on its configuration as it is (a restart keeps what a set-up wrote). */
export function startCeilometer(lab: Lab): number {
  const dir = serviceDir(lab.s, 'ceilometer');
  return startPython(lab, dir, 'ceilometer-agent-notification', join(dir, 'ceilometer.conf'));
}

export async function ceilometerStart(lab: Lab): Promise<void> {
  ceilometerConf(lab);
  ensureRunning(lab, 'ceilometer', () => startCeilometer(lab), 'the Ceilometer notification agent');
}

/** Aodh's configuration; its API's paste pipeline and WSGI entry point read this file, not /etc/aodh. */
function aodhConf(lab: Lab): { dir: string; conf: string } {
  const { s } = lab;
  const dir = serviceDir(s, 'aodh');
  const conf = join(dir, 'aodh.conf');
  // keystonemiddleware and CORS load their options per project: point them at our file.
  const paste = readFileSync('/etc/aodh/api-paste.ini', 'utf8').replace(/^oslo_config_project = aodh$/gm, `oslo_config_project = aodh\noslo_config_file = ${conf}`);
  writeFileSync(join(dir, 'api-paste.ini'), paste, { mode: 0o600 });
  writeFileSync(join(dir, 'aodh-api.wsgi'), [
    'from aodh.api import app', `application = app.build_wsgi_app(argv=['--config-file', ${JSON.stringify(conf)}])`, '',
  ].join('\n'), { mode: 0o600 });
  writeIni(conf, {
    // Aodh's default event_alarm_cache_ttl (60 s), as a deployment has it: a run's controller set-up zeroes it.
    DEFAULT: { transport_url: transportUrl(s), log_dir: dir },
    api: { auth_mode: 'keystone', paste_config: join(dir, 'api-paste.ini') },
    database: { connection: dbUrl(s, 'aodh') },
    keystone_authtoken: authtoken(s, 'aodh'),
    service_credentials: { ...serviceAuth(s, 'aodh'), interface: 'public' },
    listener: { workers: 1 },
    notifier: { workers: 1 },
    profiler: profilerSection(s),
  });
  return { dir, conf };
}

export async function aodhPrepare(lab: Lab): Promise<void> {
  const { conf } = aodhConf(lab);
  if (!isRunning(lab.s.stateDir, 'aodh-api')) await must(lab.run, 'aodh-dbsync', ['--config-file', conf]);
}

/** Starts an Aodh daemon on its configuration as it is (a restart keeps what a set-up wrote). */
export function startAodh(lab: Lab, bin: 'aodh-listener' | 'aodh-notifier'): number {
  const dir = serviceDir(lab.s, 'aodh');
  return startPython(lab, dir, bin, join(dir, 'aodh.conf'));
}

export async function aodhStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const url = `http://${s.address}:${s.ports.aodh}`;
  const { dir } = aodhConf(lab);
  ensureRunning(lab, 'aodh-api', () => startUwsgi(lab, dir, s.ports.aodh, join(dir, 'aodh-api.wsgi'), {}), `Aodh on ${s.address}:${s.ports.aodh}`);
  for (const bin of ['aodh-listener', 'aodh-notifier'] as const) ensureRunning(lab, bin, () => startAodh(lab, bin));
  await waitForHttp(`${url}/`, [200], 'Aodh', join(dir, 'uwsgi.log'));
}

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  authtoken, dbUrl, ensureRunning, must, profilerSection, serviceAuth, serviceDir, startPython, startUwsgi, transportUrl, waitForHttp, writeIni, type Lab,
} from './context.js';
import { isRunning } from './services.js';

/**
 * Ceilometer's notification agent turns Nova's notifications into events and
 * publishes every event to Aodh's listener (topic alarm.all), as Doctor's
 * installers configure it. Only the event pipeline runs: no meters, no Gnocchi.
 */
export async function ceilometerStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const dir = serviceDir(s, 'ceilometer');
  const pipeline = join(dir, 'event_pipeline.yaml');
  writeFileSync(pipeline, [
    '---', 'sources:', '  - name: event_source', '    events:', '      - "*"', '    sinks:', '      - event_sink',
    'sinks:', '  - name: event_sink', '    publishers:', '      - notifier://?topic=alarm.all', '',
  ].join('\n'), { mode: 0o600 });
  const conf = join(dir, 'ceilometer.conf');
  writeIni(conf, {
    DEFAULT: { transport_url: transportUrl(s), log_dir: dir, event_pipeline_cfg_file: pipeline },
    notification: { pipelines: 'event', workers: 1 },
  });
  ensureRunning(lab, 'ceilometer', () => startPython(lab, dir, 'ceilometer-agent-notification', conf), 'the Ceilometer notification agent');
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
    // Without a zero cache TTL, alarms created after a VM boots are ignored for 60 s.
    DEFAULT: { transport_url: transportUrl(s), log_dir: dir, event_alarm_cache_ttl: 0 },
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

export async function aodhStart(lab: Lab): Promise<void> {
  const { s } = lab;
  const url = `http://${s.address}:${s.ports.aodh}`;
  const { dir, conf } = aodhConf(lab);
  ensureRunning(lab, 'aodh-api', () => startUwsgi(lab, dir, s.ports.aodh, join(dir, 'aodh-api.wsgi'), {}), `Aodh on ${s.address}:${s.ports.aodh}`);
  for (const bin of ['aodh-listener', 'aodh-notifier'] as const) ensureRunning(lab, bin, () => startPython(lab, dir, bin, conf));
  await waitForHttp(`${url}/`, [200], 'Aodh', join(dir, 'uwsgi.log'));
}

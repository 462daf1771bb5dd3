import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BOOLEAN_WORDS, ConfigError, describeIssue, isRecord, parseBoolean, withoutCredentials } from '../shared/index.js';
import { cloudConfigured, loadCredentials, type CloudCredentials, type Env } from '../openstack/index.js';
import { controllerLayoutSchema, type ControllerLayoutOverrides } from './controller/index.js';
import { INSTALLERS, type InstallerConfig } from './installers/index.js';
import { parseTransportUrl, shownTransportUrl } from '../inspector/index.js';
import { flagOf, parseTraceResets, settingName, settingsSchema, SETTING_DEFAULTS, SETTINGS, type ResolvedSettings, type SettingKey, type SettingValues } from './settings/index.js';
import type { ProfiledService } from '../profiler/index.js';
import { parseFault, type FaultSpec } from './fault/kinds.js';
import type { PowerDriver } from './fault/power.js';

/** Everything a run needs, merged from defaults, a config file, Doctor's variables and flags; frozen. */
export interface RunConfig {
  runId: string;
  testCase: 'fault_management';
  vmCount: number;
  placement: 'one-host' | 'spread';
  thresholdMs: number;
  /** What happens to the compute host (--fault). */
  fault: FaultSpec;
  /** The power driver (--power-off-command, --power-on-command): how a power-off is made. */
  power?: PowerDriver;
  faultDurationS: number;
  activeTimeoutS: number;
  notifyTimeoutS: number;
  profile: 'doctor' | 'fast';
  imageName: string;
  /** token: what the inspector requires of event senders (DOCTOR_INSPECTOR_TOKEN), else a random one per run. */
  /** `command`: the user's own inspector, started by the run instead of the built-in one. */
  inspector: { host: string; port: number; concurrency: number | 'adaptive'; traceResets: number | 'all'; token?: string; command?: string };
  consumer: { host: string; port: number };
  ssh: { user: string; keyPath?: string; knownHostsPath?: string; insecureSkipHostKeyCheck: boolean };
  installer: InstallerConfig;
  profilerType: 'poc' | 'none';
  /** Doctor's message-bus shortcut: on, with the transport URL given (TRANSPORT_URL) or read from a controller's nova.conf. */
  shortcut?: { url?: string };
  /** Where the cloud keeps OSProfiler spans (OSPROFILER_CONNECTION_STRING): the run's trace is fetched from there. */
  osprofilerConnection?: string;
  /** Cloud services profiled during the fault window (--profile-cloud): nova-api so far. */
  profileCloud?: ProfiledService[];
  /** lab: the embedded lab; cloud: the cloud in OS_* / clouds.yaml. */
  cloud: { mode: 'lab'; hosts: number; latency: Record<string, number>; dropWebhooks: boolean } | { mode: 'cloud'; credentials: CloudCredentials; cloudName?: string };
  /** Controller set-up (the alarm sink, the traits, the cache TTL): on unless skipped; layout keys over the installer's. */
  controller: { setup: boolean; layout?: ControllerLayoutOverrides };
  /** The state folder of the lab hosts a configured cloud's computes run on (the all-in-one lab's): their links are put back at once. */
  labStateDir?: string;
  resultsDir: string;
  logLevel: string;
  /** Where results and energy readings go in CI (OPNFV's variables); all optional. */
  reporting: {
    /** TEST_DB_URL: file the result in an OPNFV TestAPI. */
    testDbUrl?: string;
    /** ENERGY_RECORDER_API_URL: tell OPNFV's energy recorder each step. */
    energyRecorderUrl?: string;
    /** NODE_NAME (the pod), DEPLOY_SCENARIO, BUILD_TAG, OPNFV_VERSION. */
    podName: string;
    scenario: string;
    buildTag: string;
    version: string;
  };
}

export interface ConfigSources {
  env: Env;
  /** Flags already in config-key form (undefined = not given). */
  flags: Partial<Record<SettingKey, string | number | boolean | undefined>>;
  /** Path of a YAML or JSON config file (--config). */
  configFile?: string;
  readFile: (path: string) => string | undefined;
  cwd: string;
}

export function loadConfig(src: ConfigSources): Readonly<RunConfig> {
  const layers: Array<['file' | 'env' | 'flag', string, Record<string, unknown>]> = [];
  if (src.configFile) {
    const text = src.readFile(src.configFile);
    if (text === undefined) throw new ConfigError('--config', `cannot read ${src.configFile}`);
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError('--config', `${src.configFile} is not valid YAML or JSON: ${(err as Error).message}`);
    }
    if (!isRecord(doc)) throw new ConfigError('--config', `${src.configFile} must hold a mapping of settings`);
    layers.push(['file', src.configFile, doc]);
  }
  const fromEnv: Record<string, unknown> = {};
  for (const { key, env } of SETTINGS) {
    const v = env ? src.env[env] : undefined;
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const ciDebug = src.env['CI_DEBUG'];
  if (ciDebug !== undefined && ciDebug !== '') {
    const on = parseBoolean(ciDebug);
    if (on === undefined) throw new ConfigError('CI_DEBUG', `must be ${BOOLEAN_WORDS} (got "${ciDebug}")`);
    if (on && fromEnv['logLevel'] === undefined) fromEnv['logLevel'] = 'debug';
  }
  layers.push(['env', 'the environment', fromEnv]);
  layers.push(['flag', 'the command line', Object.fromEntries(Object.entries(src.flags).filter(([, v]) => v !== undefined))]);

  const merged: SettingValues = {};
  for (const [kind, where, layer] of layers) {
    const r = settingsSchema.safeParse(layer);
    if (!r.success) {
      const { field, message } = describeIssue(r.error);
      throw new ConfigError(settingName(field, kind), `${message} (from ${where})`);
    }
    Object.assign(merged, r.data);
  }
  const c = { ...SETTING_DEFAULTS, ...merged } as ResolvedSettings;

  let cloud: RunConfig['cloud'];
  const wantsLab = c.installerType === 'lab' || (c.installerType === undefined && !cloudConfigured(src.env));
  if (wantsLab) {
    const latency = Object.fromEntries((c.labLatency ?? '').split(',').filter(Boolean).map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])]));
    cloud = { mode: 'lab', hosts: Math.max(c.labHosts, c.placement === 'spread' ? 2 : 1), latency, dropWebhooks: c.labDropWebhooks ?? false };
  }
  else {
    const credentials = loadCredentials(src.env, src.readFile);
    if (c.osprofilerHmacKeyFile) {
      // The key comes from a file, never from the command line (it signs the trace headers).
      const key = src.readFile(resolve(src.cwd, c.osprofilerHmacKeyFile))?.trim();
      if (!key) throw new ConfigError(flagOf('osprofilerHmacKeyFile'), `cannot read an HMAC key from ${c.osprofilerHmacKeyFile} (one line: the key the services' [profiler] hmac_keys hold)`);
      credentials.profileKey = key;
    }
    cloud = { mode: 'cloud', credentials, ...(src.env['OS_CLOUD'] ? { cloudName: src.env['OS_CLOUD'] } : {}) };
  }

  const installerType = c.installerType ?? (wantsLab ? 'lab' : 'devstack');
  if (!wantsLab && !(INSTALLERS as readonly string[]).includes(installerType)) {
    throw new ConfigError(`${flagOf('installerType')} / INSTALLER_TYPE`, `${installerType} is not supported yet: ${INSTALLERS.join(', ')} are; for another installer use local with COMPUTE_IP and CONTROLLER_IPS`);
  }
  // The installers whose node knows the deployment: the run logs in there first.
  const installerNode = ({ apex: 'the undercloud\'s address: the run lists the overcloud there as stack', fuel: 'the salt master\'s address: the run reads the nodes\' addresses there as ubuntu' } as Record<string, string>)[installerType === 'mcp' ? 'fuel' : installerType];
  if (installerNode && !c.installerIp) throw new ConfigError(`${flagOf('installerIp')} / INSTALLER_IP`, `the ${installerType} installer needs ${installerNode}`);
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}-${randomBytes(2).toString('hex')}`;
  const fault = parseFault(c.fault, flagOf('fault'));
  if (Boolean(c.powerOffCommand) !== Boolean(c.powerOnCommand)) {
    throw new ConfigError(flagOf(c.powerOffCommand ? 'powerOnCommand' : 'powerOffCommand'), 'a power driver needs both command lines: --power-off-command and --power-on-command');
  }
  const power = c.powerOffCommand && c.powerOnCommand ? { off: c.powerOffCommand, on: c.powerOnCommand } : undefined;
  if (power && fault.kind !== 'power-off') throw new ConfigError(flagOf('powerOffCommand'), `the power driver makes --fault power-off, not ${c.fault}: leave it out or choose power-off`);
  if (fault.kind === 'power-off' && !power && cloud.mode !== 'lab' && !c.labStateDir) {
    throw new ConfigError(flagOf('fault'), 'power-off of a host that is not a lab host needs a power driver: --power-off-command and --power-on-command (an ipmitool command line, say); lab hosts (the embedded lab, --lab-state-dir) are powered off by the fault script');
  }
  const config: RunConfig = {
    runId,
    testCase: 'fault_management',
    vmCount: c.vmCount,
    placement: c.placement,
    thresholdMs: c.thresholdMs,
    fault,
    ...(power ? { power } : {}),
    faultDurationS: c.faultDurationS,
    activeTimeoutS: c.activeTimeoutS,
    notifyTimeoutS: c.notifyTimeoutS,
    profile: c.profile,
    imageName: c.imageName,
    inspector: { host: c.inspectorHost, port: c.inspectorPort, concurrency: c.inspectorConcurrency === 'adaptive' ? 'adaptive' : Number(c.inspectorConcurrency), traceResets: parseTraceResets(c.traceResets)!, ...(c.inspectorToken ? { token: c.inspectorToken } : {}), ...(c.inspectorCommand ? { command: c.inspectorCommand } : {}) },
    consumer: { host: c.consumerHost, port: c.consumerPort },
    ssh: {
      // devstack's computes are reached as its stack user; lab hosts (and Doctor's other installers) as root.
      user: c.sshUser ?? (installerType === 'devstack' && !c.labStateDir ? 'stack' : 'root'),
      // Doctor's key for MCP's salt master and nodes.
      ...(c.sshKey ? { keyPath: c.sshKey } : installerType === 'fuel' || installerType === 'mcp' ? { keyPath: '/var/lib/opnfv/mcp.rsa' } : {}),
      ...(c.knownHosts ? { knownHostsPath: c.knownHosts } : {}),
      insecureSkipHostKeyCheck: c.insecureSkipHostKeyCheck ?? false,
    },
    installer: {
      type: installerType, ...(c.installerIp ? { ip: c.installerIp } : {}),
      ...(c.computeIp ? { computeIps: Object.fromEntries(c.computeIp.split(',').map((kv) => (kv.includes('=') ? kv.split('=') as [string, string] : ['*', kv]))) } : {}),
      ...(c.controllerIps ? { controllerIps: c.controllerIps.split(/[,\s]+/) } : {}),
    },
    controller: { setup: !(c.skipControllerSetup ?? false), ...(c.controllerLayout ? { layout: readLayout(resolve(src.cwd, c.controllerLayout), src.readFile) } : {}) },
    profilerType: c.profilerType,
    ...(c.osprofilerConnection ? { osprofilerConnection: c.osprofilerConnection } : {}),
    ...(c.profileCloud ? { profileCloud: [...new Set(c.profileCloud.split(',') as ProfiledService[])] } : {}),
    ...(c.shortcut || c.transportUrl ? { shortcut: c.transportUrl ? { url: c.transportUrl } : {} } : {}),
    ...(c.labStateDir ? { labStateDir: resolve(src.cwd, c.labStateDir) } : {}),
    cloud,
    resultsDir: join(resolve(src.cwd, c.resultsDir), runId),
    logLevel: c.logLevel,
    reporting: {
      ...(urlFromEnv(src.env, 'TEST_DB_URL') ? { testDbUrl: urlFromEnv(src.env, 'TEST_DB_URL') } : {}),
      ...(urlFromEnv(src.env, 'ENERGY_RECORDER_API_URL') ? { energyRecorderUrl: urlFromEnv(src.env, 'ENERGY_RECORDER_API_URL') } : {}),
      podName: src.env['NODE_NAME'] || 'unknown-pod',
      scenario: src.env['DEPLOY_SCENARIO'] || 'unknown',
      buildTag: src.env['BUILD_TAG'] || 'none',
      version: src.env['OPNFV_VERSION'] || 'unknown',
    },
  };
  if (c.transportUrl) parseTransportUrl(c.transportUrl, 'TRANSPORT_URL'); // a malformed one is refused now, not at the fault
  if (config.shortcut && config.inspector.command) {
    throw new ConfigError(flagOf('inspectorCommand'), 'the shortcut is the built-in inspector\'s (it publishes as it resets): use one or the other');
  }
  if (config.shortcut && config.cloud.mode === 'lab') {
    throw new ConfigError(c.transportUrl ? 'TRANSPORT_URL' : flagOf('shortcut'), 'the embedded lab\'s simulated cloud has no message bus: use the shortcut against a real cloud or the all-in-one lab (doctor lab openstack up)');
  }
  if (config.profileCloud && config.cloud.mode === 'lab') {
    throw new ConfigError(flagOf('profileCloud'), 'the embedded lab\'s simulated cloud is not Nova: profile a real cloud or the all-in-one lab (doctor lab openstack up)');
  }
  if (config.cloud.mode === 'cloud' && !config.ssh.keyPath) {
    throw new ConfigError('SSH_KEY', `a real cloud needs the SSH key of the compute hosts (SSH_KEY or ${flagOf('sshKey')}), and ${flagOf('knownHosts')} to verify them`);
  }
  return Object.freeze(config);
}

/** The controllerLayout file, or a ConfigError naming the key that is wrong. */
function readLayout(path: string, readFile: ConfigSources['readFile']): ControllerLayoutOverrides {
  const text = readFile(path);
  if (text === undefined) throw new ConfigError('controllerLayout', `cannot read ${path}`);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError('controllerLayout', `${path} is not valid YAML: ${(err as Error).message}`);
  }
  const r = controllerLayoutSchema.safeParse(doc ?? {});
  if (!r.success) {
    const { field, message } = describeIssue(r.error);
    throw new ConfigError('controllerLayout', `${path}: ${field} ${message} (keys: eventPipeline, eventDefinitions, aodhConf, novaConf, ceilometerConf, restart.ceilometer, restart.aodh, restart.nova, logs.novaApi, logs.ceilometerNotification, logs.aodhListener, profile.novaApi, profile.novaConductor, profile.novaCompute (each flag and dir))`);
  }
  return r.data;
}

/** An http(s) URL from the environment, or a ConfigError naming the variable. */
function urlFromEnv(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(name, `"${v}" is not a URL (expected http://host[:port]/...)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(name, `must be an http or https URL (got ${u.protocol})`);
  return v;
}

/** The config as results.json shows it: no password, no token. */
export function redactedConfig(c: RunConfig): Record<string, unknown> {
  const { cloud, ...rest } = c;
  const shown =
    cloud.mode === 'lab'
      ? cloud
      : { mode: 'cloud', authUrl: cloud.credentials.authUrl, username: cloud.credentials.username, projectName: cloud.credentials.projectName, regionName: cloud.credentials.regionName, source: cloud.credentials.source };
  // A URL may carry a user and password: results show it without.
  const bare = (u: string | undefined) => (u ? withoutCredentials(u) : u);
  const reporting = { ...rest.reporting, testDbUrl: bare(rest.reporting.testDbUrl), energyRecorderUrl: bare(rest.reporting.energyRecorderUrl) };
  const { token: _token, ...inspector } = rest.inspector;
  const shortcut = rest.shortcut ? { shortcut: { transportUrl: rest.shortcut.url ? shownTransportUrl(parseTransportUrl(rest.shortcut.url, 'TRANSPORT_URL')) : '(from the first controller\'s nova.conf)' } } : {};
  return { ...rest, ...shortcut, inspector: { ...inspector, token: rest.inspector.token ? '(set)' : '(random, per run)' }, reporting: Object.fromEntries(Object.entries(reporting).filter(([, v]) => v !== undefined)), cloud: shown };
}

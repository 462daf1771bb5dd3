/**
 * The one table of `doctor run` settings: config-file key, flag, environment
 * variable, schema, default and help. The CLI options, the environment mapping,
 * the defaults, every error's name for a setting and the README's table all
 * come from here, so they cannot drift apart.
 */
import { z } from 'zod';
import { booleanSetting } from '../../shared/index.js';
import { FAULTS, faultSyntax } from '../fault/kinds.js';

// doctor inject's --fault help (the CLI's light way in).
export { FAULT_CHOICES } from '../fault/kinds.js';

interface Spec {
  /** Long flag of `doctor run` without the dashes. */
  flag?: string;
  /** The flag's value as help shows it; none: a switch (true when given). */
  value?: string;
  /** Doctor's (or OPNFV's) environment variable. */
  env?: string;
  schema: z.ZodType;
  /** The default applied when no layer gives the setting. */
  default?: string | number;
  /** How the docs show the default when it depends on something else. */
  shownDefault?: string;
  /** One line: flag help and the README's meaning. */
  help: string;
}

const lower = <const T extends readonly [string, ...string[]]>(values: T, message?: string) =>
  z.string().transform((s) => s.toLowerCase()).pipe(z.enum(values, message ? { message } : undefined));
const port = z.coerce.number().int().min(0).max(65535);
const HOPS = '(notify|transform|evaluate|fire|deliver)=\\d+(\\.\\d+)?';

/** `--trace-resets`: `all` or a count (`doctor run`'s setting and `doctor inspector`'s flag). */
const TRACE_RESETS = /^(all|\d{1,4})$/;
export const TRACE_RESETS_RULE = 'must be all or a whole number (0 traces none)';
/** The value of `--trace-resets`, or undefined when it is not one. */
export function parseTraceResets(text: string): number | 'all' | undefined {
  if (!TRACE_RESETS.test(text)) return undefined;
  return text === 'all' ? 'all' : Number(text);
}

const SPECS = {
  vmCount: { flag: 'vm-count', value: 'n', env: 'VM_COUNT', schema: z.coerce.number().int().min(1).max(500), default: 1, help: 'VMs to boot' },
  placement: { flag: 'placement', value: 'how', schema: z.enum(['one-host', 'spread']), default: 'one-host', help: '`one-host` (all on the failing host) or `spread`' },
  thresholdMs: { flag: 'threshold-ms', value: 'ms', schema: z.coerce.number().positive(), default: 1000, help: 'PASS when the last notification is under this' },
  profile: { flag: 'profile', value: 'name', schema: z.enum(['doctor', 'fast']), default: 'doctor', help: 'monitor: `doctor` (100 ms, 100 ms, k=1) or `fast` (5 ms, 15 ms, k=4)' },
  fault: {
    flag: 'fault', value: 'name[:param]', schema: z.string().min(1), default: 'link-down',
    help: `what happens to the compute host: ${FAULTS.map((f) => `\`${faultSyntax(f)}\`: ${f.help}`).join('; ')}`,
  },
  powerOffCommand: {
    flag: 'power-off-command', value: 'cmd', schema: z.string().min(1),
    help: 'with `--fault power-off`: a shell command line, run on this machine, that powers the host off (a power driver; used for any host, lab hosts included), `{host}` replaced by Nova\'s name for it and `{ip}` by its address, e.g. `ipmitool -I lanplus -H bmc-{host} -U admin -f /etc/doctor/ipmi.pass chassis power off` (a password file: a password on the command line would show in the process list)',
  },
  powerOnCommand: {
    flag: 'power-on-command', value: 'cmd', schema: z.string().min(1),
    help: 'with `--power-off-command`: the command line that powers the host on again, run as soon as the run is done with the host; a timer of its own runs it after `--fault-duration` should the run die, and `doctor cleanup` runs it too',
  },
  faultDurationS: {
    flag: 'fault-duration', value: 's', schema: z.coerce.number().min(1).max(3600), default: 30,
    help: 'seconds the fault lasts; on a lab host (embedded or all-in-one lab) it is put back as soon as the run is done with it',
  },
  activeTimeoutS: { flag: 'active-timeout', value: 's', schema: z.coerce.number().positive(), default: 300, help: 'deadline for the VMs to be ACTIVE' },
  notifyTimeoutS: { flag: 'notify-timeout', value: 's', schema: z.coerce.number().positive(), default: 60, help: 'deadline for the alarms after detection' },
  imageName: { flag: 'image', value: 'name', env: 'IMAGE_NAME', schema: z.string().min(1), default: 'cirros', help: 'image reused by name, else a small one is uploaded' },
  installerType: {
    flag: 'installer', value: 'type', env: 'INSTALLER_TYPE', schema: lower(['lab', 'devstack', 'local', 'apex', 'fuel', 'mcp', 'daisy']),
    shownDefault: 'lab (no cloud) / devstack', help: '`lab`, `devstack`, `local`, `apex`, `fuel`, `mcp`, `daisy`',
  },
  installerIp: { flag: 'installer-ip', value: 'ip', env: 'INSTALLER_IP', schema: z.string().min(1), help: 'the installer\'s node: apex\'s undercloud, fuel/mcp\'s salt master' },
  computeIp: {
    flag: 'compute-ip', value: 'list', env: 'COMPUTE_IP', schema: z.string().regex(/^([^=,\s]+|[^=,\s]+=[^=,\s]+(,[^=,\s]+=[^=,\s]+)*)$/, 'must be an address, or name=address,name=address'),
    shownDefault: '(by name)', help: 'installer `local`: the compute hosts\' addresses (one for any host, or `name=address,...`); a host not named is looked up by its name',
  },
  controllerIps: {
    flag: 'controller-ips', value: 'list', env: 'CONTROLLER_IPS', schema: z.string().regex(/^[^,\s]+([,\s]+[^,\s]+)*$/, 'must be addresses separated by spaces or commas'),
    help: 'installer `local`: the controllers\' addresses',
  },
  inspectorType: {
    env: 'INSPECTOR_TYPE', schema: lower(['sample'], 'only the sample inspector is built in so far (vitrage and congress are not)'), default: 'sample',
    help: 'only `sample` is built in so far',
  },
  testCase: { env: 'TEST_CASE', schema: lower(['fault_management'], 'only fault_management is built in so far'), default: 'fault_management', help: 'only `fault_management` so far' },
  profilerType: { env: 'PROFILER_TYPE', schema: lower(['poc', 'none']), default: 'poc', help: '`poc`: build the eleven-checkpoint profile; `none`: skip it (Doctor\'s values)' },
  sshKey: {
    flag: 'ssh-key', value: 'path', env: 'SSH_KEY', schema: z.string().min(1), shownDefault: '(lab key; fuel/mcp: /var/lib/opnfv/mcp.rsa)',
    help: 'private key for the compute hosts (apex, fuel/mcp: for the installer\'s node, the undercloud or the salt master)',
  },
  knownHosts: { flag: 'known-hosts', value: 'path', schema: z.string().min(1), shownDefault: '(lab\'s)', help: 'known_hosts to verify the compute hosts\' SSH keys' },
  insecureSkipHostKeyCheck: { flag: 'insecure-skip-host-key-check', schema: booleanSetting, shownDefault: 'off', help: 'do not verify SSH host keys (explicit opt-out)' },
  sshUser: {
    flag: 'ssh-user', value: 'name', env: 'COMPUTE_USER', schema: z.string().min(1), shownDefault: 'root (devstack: stack)',
    help: 'SSH user on the compute hosts (passwordless sudo for `ip` if not root)',
  },
  controllerLayout: {
    flag: 'controller-layout', value: 'path', schema: z.string().min(1), shownDefault: '(the installer\'s)',
    help: 'a YAML file with the controllers\' `eventPipeline`, `eventDefinitions`, `aodhConf`, `novaConf`, `ceilometerConf`, `restart: {ceilometer, aodh, nova}` commands and `logs: {novaApi, ceilometerNotification, aodhListener}` (the logs checkpoints 5, 6, 7 are read from; a log not named is not read), over the installer\'s (devstack: /etc/… and its systemd units, no log files: it logs to journald); the all-in-one lab writes its own',
  },
  skipControllerSetup: {
    flag: 'skip-controller-setup', schema: booleanSetting, shownDefault: 'off',
    help: 'leave the controllers\' files alone (they must already publish events to `notifier://?topic=alarm.all` and have `event_alarm_cache_ttl = 0`)',
  },
  shortcut: {
    flag: 'shortcut', schema: booleanSetting, shownDefault: 'off (on with TRANSPORT_URL)',
    help: 'Doctor\'s 2018 shortcut: the inspector also publishes each VM\'s `compute.instance.update` (state error) on the message bus; the transport URL from `TRANSPORT_URL`, else from the first controller\'s nova.conf (`[DEFAULT] transport_url`)',
  },
  transportUrl: {
    env: 'TRANSPORT_URL', schema: z.string().regex(/^[a-z][a-z0-9+]*:\/\//, 'must be a transport URL like rabbit://user:password@host:5672/'),
    help: 'the message bus the shortcut publishes on (`rabbit://user:password@host:5672/`, several brokers comma-separated); turns the shortcut on. Never a flag: it holds a password',
  },
  inspectorHost: { flag: 'inspector-host', value: 'address', schema: z.string().min(1), default: '127.0.0.1', help: 'where the inspector listens' },
  inspectorPort: { flag: 'inspector-port', value: 'n', schema: port, default: 12345, help: 'the inspector\'s port (0 = any free port)' },
  inspectorConcurrency: {
    flag: 'inspector-concurrency', value: 'n', schema: z.string().regex(/^(adaptive|[1-9]\d{0,2})$/, 'must be adaptive or a whole number from 1 to 999'), default: 'adaptive',
    help: 'reset-state calls in flight: `adaptive` (from 16, more while few calls wait in Nova\'s queue, fewer when they pile up or it answers 429/503, 1 to 64) or a fixed number',
  },
  traceResets: {
    flag: 'trace-resets', value: 'n', schema: z.string().regex(TRACE_RESETS, TRACE_RESETS_RULE), default: '3',
    help: 'with OSProfiler on (a key in `OS_PROFILE` or clouds.yaml `profile`): how many of the inspector\'s reset-state calls carry the trace headers, spread over the host\'s VMs in the order they are sent, the last one always among them, or `all`. A traced reset costs the cloud its spans (nova-api served one in about 25 ms more on the all-in-one lab) and so delays the notifications after it: 0 for a timing run',
  },
  inspectorCommand: {
    flag: 'inspector-command', value: 'cmd', env: 'INSPECTOR_COMMAND', schema: z.string().regex(/\{port\}/, 'must contain {port}, where the run puts the port the inspector is to listen on'),
    help: 'your own inspector instead of the built-in one (e.g. Doctor\'s sample inspector): a shell command line the run starts once the VMs and alarms exist (where Doctor\'s harness starts its inspector), `{port}` replaced by `--inspector-port` (0: a free one), the cloud\'s credentials as OS_* variables in its environment; the monitor sends it `PUT /events` (with `DOCTOR_INSPECTOR_TOKEN`, if set); it is stopped at the end and any force-down it left is cleared. Its own checkpoints (2–4) are not seen from outside',
  },
  inspectorToken: {
    env: 'DOCTOR_INSPECTOR_TOKEN', schema: z.string().min(16, 'must be at least 16 characters'), shownDefault: '(a new random one per run)',
    help: 'the token the run\'s inspector requires of whoever sends it events (`Authorization: Bearer`); the monitor sends it. Never a flag: it would show in the process list',
  },
  consumerHost: { flag: 'consumer-host', value: 'address', schema: z.string().min(1), default: '127.0.0.1', help: 'where the consumer listens; Aodh must reach it' },
  consumerPort: { flag: 'consumer-port', value: 'n', schema: port, default: 12346, help: 'the consumer\'s port (0 = any free port)' },
  labHosts: { flag: 'lab-hosts', value: 'n', schema: z.coerce.number().int().min(1).max(63), default: 2, help: 'compute hosts of the embedded lab' },
  labLatency: {
    flag: 'lab-latency', value: 'list', schema: z.string().regex(new RegExp(`^${HOPS}(,${HOPS})*$`), 'must look like notify=5,transform=10,evaluate=5,fire=1,deliver=2'),
    shownDefault: '0', help: 'per-hop latency of the simulated cloud, e.g. `notify=5,transform=10,evaluate=5,fire=1,deliver=2`',
  },
  labStateDir: {
    flag: 'lab-state-dir', value: 'dir', schema: z.string().min(1),
    help: 'the state folder of the lab hosts a configured cloud\'s computes run on (the all-in-one lab writes it into its doctor.yaml): their links are put back as soon as the run is done, and probes and SSH must use the lab\'s links',
  },
  labDropWebhooks: { flag: 'lab-drop-webhooks', schema: booleanSetting, shownDefault: 'off', help: 'the simulated Aodh drops every webhook (to see a FAIL)' },
  osprofilerHmacKeyFile: {
    flag: 'osprofiler-hmac-key-file', value: 'path', schema: z.string().min(1),
    help: 'a file holding the OSProfiler HMAC key (as `OS_PROFILE` or clouds.yaml `profile`; a file keeps it off the command line)',
  },
  osprofilerConnection: {
    flag: 'osprofiler-connection', value: 'url', env: 'OSPROFILER_CONNECTION_STRING',
    schema: z.string().regex(/^[a-z][a-z0-9+]*:\/\//, 'must be an OSProfiler connection string like redis://127.0.0.1:6379'),
    help: 'where the cloud keeps OSProfiler spans (e.g. `redis://host:6379`): the run\'s trace is fetched after the run',
  },
  profileCloud: {
    flag: 'profile-cloud', value: 'services', schema: z.string().regex(/^(nova-api|nova-conductor|nova-compute)(,(nova-api|nova-conductor|nova-compute))*$/, 'must be nova-api, nova-conductor or nova-compute, or several of them comma-separated'),
    help: 'profile these cloud services during the fault window with eventlet\'s profiler, as Nova\'s own guide does (`nova-api`: each request it serves; `nova-conductor`, `nova-compute`: the whole process, every compute\'s), written as `.prof` files next to the results with the top functions in the reports; needs a controller layout with `profile.novaApi`, `profile.novaConductor`, `profile.novaCompute` (the all-in-one lab\'s has them). A profiled service is slower: not a timing run',
  },
  resultsDir: { flag: 'results-dir', value: 'dir', schema: z.string().min(1), default: './results', help: 'where `<run id>/` goes' },
  logLevel: {
    flag: 'log-level', value: 'level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']), default: 'info',
    help: 'per-component log level (`CI_DEBUG=true`: debug)',
  },
} satisfies Record<string, Spec>;

type Specs = typeof SPECS;
export type SettingKey = keyof Specs;
/** What the layers (file, environment, flags) give, once parsed. */
export type SettingValues = { [K in SettingKey]?: z.output<Specs[K]['schema']> };
type WithDefault = { [K in SettingKey]: Specs[K] extends { default: string | number } ? K : never }[SettingKey];
export type ResolvedSettings = SettingValues & Required<Pick<SettingValues, WithDefault>>;

export interface Setting extends Spec {
  key: SettingKey;
}

export const SETTINGS: readonly Setting[] = Object.entries(SPECS).map(([key, spec]) => ({ key: key as SettingKey, ...(spec as Spec) }));

const shape = Object.fromEntries(SETTINGS.map((s) => [s.key, s.schema])) as { [K in SettingKey]: Specs[K]['schema'] };
/** Any layer's settings: every key optional, unknown keys refused. */
export const settingsSchema = z.object(shape).partial().strict();

export const SETTING_DEFAULTS = Object.fromEntries(SETTINGS.filter((s) => s.default !== undefined).map((s) => [s.key, s.default])) as Pick<ResolvedSettings, WithDefault>;

function setting(key: SettingKey): Setting {
  return SETTINGS.find((s) => s.key === key)!;
}

/** The flag as a user types it: `--fault-duration`. */
export function flagOf(key: SettingKey): string {
  const f = setting(key).flag;
  if (!f) throw new Error(`setting ${key} has no flag`);
  return `--${f}`;
}

/** The property commander gives a flag's value under (`--fault-duration` → faultDuration). */
export function flagProperty(s: Setting): string {
  return s.flag!.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** How a setting is named to the user, by where its value came from. */
export function settingName(key: string, where: 'file' | 'env' | 'flag'): string {
  const s = SETTINGS.find((x) => x.key === key);
  if (where === 'env' && s?.env) return s.env;
  if (where === 'flag' && s?.flag) return `--${s.flag}`;
  return key;
}

/** `doctor run`'s options: [flags as commander takes them, help with the variable and default]. */
export function runOptions(): Array<[string, string]> {
  return SETTINGS.filter((s) => s.flag).map((s) => {
    const extra = [s.env, s.default !== undefined ? `default ${s.default}` : s.shownDefault && !s.shownDefault.startsWith('(') ? `default ${s.shownDefault}` : undefined].filter(Boolean);
    return [`--${s.flag}${s.value ? ` <${s.value}>` : ''}`, `${s.help.replace(/`/g, '')}${extra.length ? ` (${extra.join('; ')})` : ''}`];
  });
}

/** The README's configuration table (markdown), in table order. */
export function settingsTable(): string {
  const cell = (v: string | undefined) => (v ? `\`${v}\`` : '');
  const rows = SETTINGS.map((s) => {
    const dflt = s.shownDefault ?? (s.default === undefined ? '' : String(s.default));
    return `| ${cell(s.flag && `--${s.flag}`)} | ${cell(s.env)} | \`${s.key}\` | ${dflt} | ${s.help} |`;
  });
  return ['| flag | environment | config key | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { BOOLEAN_WORDS, ConfigError, isRecord, parseBoolean } from '../shared/index.js';

/** Everything needed to authenticate and find endpoints. */
export interface CloudCredentials {
  authUrl: string;
  username?: string;
  userId?: string;
  password: string;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  regionName?: string;
  interface: 'public' | 'internal' | 'admin';
  /** Path of a CA bundle (OS_CACERT / clouds.yaml `cacert`). */
  cacert?: string;
  /** That bundle's PEM text, read once when the credentials are loaded. */
  ca?: string;
  insecure: boolean;
  /** service type → URL, bypassing the catalog. */
  endpointOverrides: Record<string, string>;
  /** OSProfiler HMAC key (OS_PROFILE / clouds.yaml `profile`). */
  profileKey?: string;
  /** Where the values came from, for error messages. */
  source: string;
}

export type Env = Record<string, string | undefined>;
export type ReadFile = (path: string) => string | undefined;

const SERVICE_TYPES = ['identity', 'compute', 'image', 'network', 'alarming'] as const;

const httpUrl = z
  .string()
  .trim()
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL such as http://127.0.0.1:5000/v3');

const raw = z
  .object({
    authUrl: httpUrl,
    username: z.string().min(1).optional(),
    userId: z.string().min(1).optional(),
    password: z.string().min(1, 'is not set (or is empty)'),
    userDomainName: z.string().min(1).optional(),
    userDomainId: z.string().min(1).optional(),
    projectName: z.string().min(1).optional(),
    projectId: z.string().min(1).optional(),
    projectDomainName: z.string().min(1).optional(),
    projectDomainId: z.string().min(1).optional(),
    regionName: z.string().min(1).optional(),
    interface: z.enum(['public', 'internal', 'admin']).default('public'),
    cacert: z.string().min(1).optional(),
    insecure: z.boolean().default(false),
    endpointOverrides: z.record(z.string(), httpUrl).default({}),
    profileKey: z.string().min(1).optional(),
  })
  .strict();

type Names = Record<keyof z.infer<typeof raw>, string>;

const ENV_NAMES: Names = {
  authUrl: 'OS_AUTH_URL',
  username: 'OS_USERNAME',
  userId: 'OS_USER_ID',
  password: 'OS_PASSWORD',
  userDomainName: 'OS_USER_DOMAIN_NAME',
  userDomainId: 'OS_USER_DOMAIN_ID',
  projectName: 'OS_PROJECT_NAME',
  projectId: 'OS_PROJECT_ID',
  projectDomainName: 'OS_PROJECT_DOMAIN_NAME',
  projectDomainId: 'OS_PROJECT_DOMAIN_ID',
  regionName: 'OS_REGION_NAME',
  interface: 'OS_INTERFACE',
  cacert: 'OS_CACERT',
  insecure: 'OS_INSECURE',
  endpointOverrides: 'OS_<SERVICE>_ENDPOINT_OVERRIDE',
  profileKey: 'OS_PROFILE',
};

const YAML_NAMES: Names = {
  authUrl: 'auth.auth_url',
  username: 'auth.username',
  userId: 'auth.user_id',
  password: 'auth.password',
  userDomainName: 'auth.user_domain_name',
  userDomainId: 'auth.user_domain_id',
  projectName: 'auth.project_name',
  projectId: 'auth.project_id',
  projectDomainName: 'auth.project_domain_name',
  projectDomainId: 'auth.project_domain_id',
  regionName: 'region_name',
  interface: 'interface',
  cacert: 'cacert',
  insecure: 'verify',
  endpointOverrides: '<service>_endpoint_override',
  profileKey: 'profile',
};

/** True when the environment names a cloud (OS_CLOUD or OS_AUTH_URL). */
export function cloudConfigured(env: Env): boolean {
  return Boolean(env['OS_CLOUD'] || env['OS_AUTH_URL']);
}

/**
 * Credentials from `clouds.yaml` + OS_CLOUD when OS_CLOUD is set, otherwise
 * from the OS_* variables. A missing or bad value is a ConfigError naming the
 * variable or the clouds.yaml key.
 */
export function loadCredentials(env: Env, readFile: ReadFile, cloudName?: string): CloudCredentials {
  const cloud = cloudName ?? env['OS_CLOUD'];
  return withCaBundle(cloud ? fromCloudsYaml(cloud, env, readFile) : fromEnv(env), readFile, cloud ? 'cacert' : 'OS_CACERT');
}

/** Reads the CA bundle the credentials name, once, so every client of a run trusts the same bytes. */
function withCaBundle(c: CloudCredentials, readFile: ReadFile, name: string): CloudCredentials {
  if (!c.cacert) return c;
  const ca = readFile(c.cacert);
  if (ca === undefined || !ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(name, `cannot read a CA bundle (PEM certificates) from ${c.cacert} (in ${c.source}); fix the path or its permissions`);
  }
  return { ...c, ca };
}

function fromEnv(env: Env): CloudCredentials {
  const get = (k: keyof Names) => emptyToUndef(env[ENV_NAMES[k]]);
  if (!get('authUrl')) {
    throw new ConfigError(
      'OS_AUTH_URL',
      'is not set: source an openrc file, set OS_CLOUD to a clouds.yaml entry, or run without a cloud to use the embedded lab',
    );
  }
  const overrides: Record<string, string> = {};
  for (const t of SERVICE_TYPES) {
    const v = emptyToUndef(env[`OS_${t.toUpperCase()}_ENDPOINT_OVERRIDE`]);
    if (v) overrides[t] = v;
  }
  const insecure = get('insecure');
  return validate(
    {
      authUrl: get('authUrl'),
      username: get('username'),
      userId: get('userId'),
      password: get('password') ?? '',
      userDomainName: get('userDomainName'),
      userDomainId: get('userDomainId'),
      projectName: get('projectName') ?? emptyToUndef(env['OS_TENANT_NAME']),
      projectId: get('projectId') ?? emptyToUndef(env['OS_TENANT_ID']),
      projectDomainName: get('projectDomainName'),
      projectDomainId: get('projectDomainId'),
      regionName: get('regionName'),
      interface: normaliseInterface(get('interface')),
      cacert: get('cacert'),
      insecure: insecure === undefined ? undefined : yesNo(insecure, 'OS_INSECURE'),
      endpointOverrides: overrides,
      profileKey: get('profileKey'),
    },
    ENV_NAMES,
    'the OS_* environment variables',
  );
}

export function cloudsYamlPaths(env: Env): string[] {
  const paths: string[] = [];
  if (env['OS_CLIENT_CONFIG_FILE']) paths.push(env['OS_CLIENT_CONFIG_FILE']);
  paths.push('clouds.yaml', join(env['HOME'] ?? homedir(), '.config/openstack/clouds.yaml'), '/etc/openstack/clouds.yaml');
  return paths;
}

function fromCloudsYaml(cloud: string, env: Env, readFile: ReadFile): CloudCredentials {
  const paths = cloudsYamlPaths(env);
  for (const path of paths) {
    const text = readFile(path);
    if (text === undefined) continue;
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError(path, `is not valid YAML: ${(err as Error).message}`, { cause: err });
    }
    const clouds = isRecord(doc) && isRecord(doc['clouds']) ? doc['clouds'] : undefined;
    const entry = clouds?.[cloud];
    if (!isRecord(entry)) continue;
    return fromCloudEntry(entry, `${path} (cloud "${cloud}")`);
  }
  throw new ConfigError(
    'OS_CLOUD',
    `cloud "${cloud}" was not found in any clouds.yaml (looked in ${paths.join(', ')}); ` +
      'add it there or unset OS_CLOUD',
  );
}

export function fromCloudEntry(entry: Record<string, unknown>, source: string): CloudCredentials {
  const auth = isRecord(entry['auth']) ? entry['auth'] : {};
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  const overrides: Record<string, string> = {};
  for (const t of SERVICE_TYPES) {
    const v = str(entry[`${t}_endpoint_override`]);
    if (v) overrides[t] = v;
  }
  const verify = entry['verify'];
  return validate(
    {
      authUrl: str(auth['auth_url']),
      username: str(auth['username']),
      userId: str(auth['user_id']),
      password: str(auth['password']) ?? '',
      userDomainName: str(auth['user_domain_name']),
      userDomainId: str(auth['user_domain_id']),
      projectName: str(auth['project_name'] ?? auth['tenant_name']),
      projectId: str(auth['project_id'] ?? auth['tenant_id']),
      projectDomainName: str(auth['project_domain_name']),
      projectDomainId: str(auth['project_domain_id']),
      regionName: str(entry['region_name']),
      interface: normaliseInterface(str(entry['interface'])),
      cacert: str(entry['cacert']),
      insecure: verify === undefined ? undefined : !yesNo(verify, `verify (in ${source})`),
      endpointOverrides: overrides,
      profileKey: str(entry['profile']),
    },
    YAML_NAMES,
    source,
  );
}

/** A clouds.yaml document with one entry: the inverse of fromCloudEntry. */
export function toCloudsYaml(name: string, c: CloudCredentials): string {
  const auth: Record<string, string> = { auth_url: c.authUrl };
  const put = (key: string, v: string | undefined) => {
    if (v !== undefined) auth[key] = v;
  };
  put('username', c.username);
  put('user_id', c.userId);
  auth['password'] = c.password;
  put('project_name', c.projectName);
  put('project_id', c.projectId);
  put('user_domain_name', c.userDomainName);
  put('user_domain_id', c.userDomainId);
  put('project_domain_name', c.projectDomainName);
  put('project_domain_id', c.projectDomainId);
  const entry: Record<string, unknown> = { auth, interface: c.interface, identity_api_version: 3 };
  if (c.regionName) entry['region_name'] = c.regionName;
  if (c.cacert) entry['cacert'] = c.cacert;
  if (c.insecure) entry['verify'] = false;
  if (c.profileKey) entry['profile'] = c.profileKey;
  return toYaml({ clouds: { [name]: entry } });
}

function validate(input: Record<string, unknown>, names: Names, source: string): CloudCredentials {
  const result = raw.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? 'credentials') as keyof Names;
    const name = names[key] ?? key;
    const message = issue.code === 'invalid_type' && input[key] === undefined ? 'is not set' : issue.message;
    throw new ConfigError(name, `${message} (in ${source})`);
  }
  const c = result.data;
  if (!c.username && !c.userId) throw new ConfigError(names.username, `is not set (in ${source}); give a user name or ${names.userId}`);
  if (!c.projectName && !c.projectId) {
    throw new ConfigError(names.projectName, `is not set (in ${source}); the harness needs a project-scoped admin token`);
  }
  // Keystone needs a domain for anything named; "Default" is what every installer uses.
  const withDomains = {
    ...c,
    userDomainName: c.userDomainName ?? (c.userDomainId || c.userId ? undefined : 'Default'),
    projectDomainName: c.projectDomainName ?? (c.projectDomainId || c.projectId ? undefined : 'Default'),
  };
  return { ...dropUndefined(withDomains), source } as CloudCredentials;
}

function yesNo(v: unknown, name: string): boolean {
  const b = parseBoolean(v);
  if (b === undefined) throw new ConfigError(name, `must be ${BOOLEAN_WORDS} (got ${JSON.stringify(v)})`);
  return b;
}

function normaliseInterface(v: string | undefined): string | undefined {
  return v?.replace(/URL$/, '').toLowerCase();
}

function emptyToUndef(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The OS_* variables that name these credentials, for a child process that authenticates itself (a
 * user's own inspector): what an openrc file would export. Passed in its environment, never its argv.
 */
export function credentialsEnv(c: CloudCredentials): Record<string, string> {
  const env: Record<string, string> = {};
  const scalar = ['authUrl', 'username', 'userId', 'password', 'userDomainName', 'userDomainId', 'projectName', 'projectId', 'projectDomainName', 'projectDomainId', 'regionName', 'interface', 'cacert', 'profileKey'] as const;
  for (const k of scalar) {
    const v = c[k];
    if (v !== undefined && v !== '') env[ENV_NAMES[k]] = v;
  }
  if (c.insecure) env[ENV_NAMES.insecure] = 'true';
  for (const [type, url] of Object.entries(c.endpointOverrides)) env[`OS_${type.toUpperCase()}_ENDPOINT_OVERRIDE`] = url;
  return env;
}

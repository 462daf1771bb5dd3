import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  authBody,
  compareMicroversions,
  findEndpoint,
  loadCredentials,
  negotiate,
  parseVersionDocument,
  retryAfterMs,
  traceHeaders,
  urlsafeBase64,
} from '../../src/openstack/index.js';
import { ConfigError, NotSupportedError, OpenStackHttpError, faultMessage } from '../../src/shared/index.js';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/openstack-zed/${name}`, import.meta.url), 'utf8'));

describe('microversions', () => {
  it('compares numerically, not as text', () => {
    expect(compareMicroversions('2.9', '2.11')).toBeLessThan(0);
    expect(compareMicroversions('2.53', '2.53')).toBe(0);
    expect(compareMicroversions('3.0', '2.93')).toBeGreaterThan(0);
  });
  it('negotiates down to the server maximum and refuses below its minimum', () => {
    expect(negotiate({ min: '2.1', max: '2.93' }, '2.53')).toBe('2.53');
    expect(negotiate({ min: '2.1', max: '2.40' }, '2.53')).toBe('2.40');
    expect(() => negotiate({ min: '2.60', max: '2.93' }, '2.53')).toThrow(NotSupportedError);
  });
  it('reads the range from the recorded Zed version document', () => {
    expect(parseVersionDocument(fixture('20-nova-v2.1-version.json').response.body)).toEqual({ min: '2.1', max: '2.93' });
    expect(parseVersionDocument({ version: { version: '', min_version: '' } })).toBeUndefined();
  });
});

describe('OSProfiler headers', () => {
  it('match a vector computed by Python (urlsafe_b64encode + hmac sha1 over the base64 text)', () => {
    // python3: info = base64.urlsafe_b64encode(json.dumps({...}).encode()); hmac.new(b'doctor', info, sha1).hexdigest()
    const pythonInfo =
      'eyJiYXNlX2lkIjogIjRjMWI4ZTdhLTJmMGYtNGQ2ZS05YThiLTFjMmQzZTRmNWE2YiIsICJwYXJlbnRfaWQiOiAiNGMxYjhlN2EtMmYwZi00ZDZlLTlhOGItMWMyZDNlNGY1YTZiIn0=';
    const json = Buffer.from(pythonInfo, 'base64').toString();
    expect(urlsafeBase64(json)).toBe(pythonInfo);
    expect(createHmac('sha1', 'doctor').update(pythonInfo).digest('hex')).toBe('39b610e3e082ec3c963cc6e83f2e0320e24e1ae1');
  });
  it('encode exactly base_id and parent_id, padded, urlsafe', () => {
    const h = traceHeaders('k', 'abc');
    expect(h['X-Trace-Info']).toMatch(/^[A-Za-z0-9_-]+=*$/);
    expect(h['X-Trace-Info']!.length % 4).toBe(0);
    expect(JSON.parse(Buffer.from(h['X-Trace-Info']!, 'base64url').toString())).toEqual({ base_id: 'abc', parent_id: 'abc' });
    expect(h['X-Trace-HMAC']).toMatch(/^[0-9a-f]{40}$/);
  });
  it('are accepted by the real osprofiler library (what every OpenStack service runs), and a wrong key is refused', () => {
    // python3-osprofiler comes with ./scripts/setup --openstack; the web middleware calls signed_unpack exactly so.
    const check = (h: Record<string, string>, key: string) => execFileSync('/usr/bin/python3', ['-c', [
      'import json, sys', 'from osprofiler import _utils',
      'print(json.dumps(_utils.signed_unpack(sys.argv[1], sys.argv[2], [sys.argv[3]])))',
    ].join('\n'), h['X-Trace-Info']!, h['X-Trace-HMAC']!, key], { encoding: 'utf8' }).trim();
    const h = traceHeaders('doctor-hmac', '4c1b8e7a-2f0f-4d6e-9a8b-1c2d3e4f5a6b', '11111111-2f0f-4d6e-9a8b-1c2d3e4f5a6b');
    expect(JSON.parse(check(h, 'doctor-hmac'))).toEqual({
      base_id: '4c1b8e7a-2f0f-4d6e-9a8b-1c2d3e4f5a6b', parent_id: '11111111-2f0f-4d6e-9a8b-1c2d3e4f5a6b', hmac_key: 'doctor-hmac',
    });
    expect(check(h, 'another-key')).toBe('null');
  });
});

describe('Retry-After', () => {
  it('accepts seconds and HTTP dates, capped at a minute', () => {
    expect(retryAfterMs('2', 0)).toBe(2000);
    expect(retryAfterMs('0', 0)).toBe(0);
    expect(retryAfterMs('600', 0)).toBe(60_000);
    const now = Date.parse('2026-11-21T05:00:00Z');
    expect(retryAfterMs('Sat, 21 Nov 2026 05:00:03 GMT', now)).toBe(3000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe('credentials', () => {
  const none = () => undefined;
  const env = {
    OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'admin', OS_PASSWORD: 's3cret',
    OS_PROJECT_NAME: 'admin', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default',
  };
  it('come from the OS_* variables', () => {
    const c = loadCredentials({ ...env, OS_INTERFACE: 'internalURL', OS_INSECURE: 'true', OS_COMPUTE_ENDPOINT_OVERRIDE: 'http://127.0.0.1:8774/v2.1' }, none);
    expect(c).toMatchObject({ authUrl: env.OS_AUTH_URL, username: 'admin', interface: 'internal', insecure: true, endpointOverrides: { compute: 'http://127.0.0.1:8774/v2.1' } });
  });
  it('take OS_INSECURE and clouds.yaml verify as yes/no words only', () => {
    expect(loadCredentials({ ...env, OS_INSECURE: 'no' }, none).insecure).toBe(false);
    expect(loadCredentials({ ...env, OS_INSECURE: 'on' }, none).insecure).toBe(true);
    expect(() => loadCredentials({ ...env, OS_INSECURE: 'maybe' }, none)).toThrow(/^OS_INSECURE: must be true\/false, yes\/no, 1\/0 or on\/off \(got "maybe"\)/);
    const yaml = (verify: string) => () => loadCredentials({ OS_CLOUD: 'c' }, (p) => (p === 'clouds.yaml' ? `clouds:\n  c:\n    auth: {auth_url: 'http://127.0.0.1:5000', username: a, password: b, project_name: c}\n    verify: ${verify}\n` : undefined));
    expect(yaml('no')().insecure).toBe(true);
    expect(yaml('true')().insecure).toBe(false);
    expect(yaml('sometimes')).toThrow(/^verify \(in clouds\.yaml \(cloud "c"\)\): must be/);
  });
  it('name the missing variable', () => {
    expect(() => loadCredentials({ ...env, OS_AUTH_URL: undefined }, none)).toThrow(/^OS_AUTH_URL: is not set/);
    expect(() => loadCredentials({ ...env, OS_PASSWORD: '' }, none)).toThrow(/^OS_PASSWORD: is not set/);
    expect(() => loadCredentials({ ...env, OS_PROJECT_NAME: undefined }, none)).toThrow(/^OS_PROJECT_NAME: is not set/);
    expect(() => loadCredentials({ ...env, OS_USERNAME: undefined }, none)).toThrow(/^OS_USERNAME: is not set/);
  });
  it('reject a malformed OS_AUTH_URL or interface, naming it', () => {
    const err = (() => {
      try {
        loadCredentials({ ...env, OS_AUTH_URL: 'keystone:5000' }, none);
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.field).toBe('OS_AUTH_URL');
    expect(err.message).toMatch(/must be an http\(s\) URL/);
    expect(() => loadCredentials({ ...env, OS_INTERFACE: 'private' }, none)).toThrow(/^OS_INTERFACE:/);
  });
  it('come from clouds.yaml with OS_CLOUD, and name the clouds.yaml key that is wrong', () => {
    const yaml = `clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5000\n      username: admin\n      password: pw\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    verify: false\n    profile: hmackey\n  broken:\n    auth:\n      auth_url: nope\n      username: a\n      password: b\n      project_name: c\n`;
    const files: Record<string, string> = { '/tmp/c.yaml': yaml };
    const read = (p: string) => files[p];
    const c = loadCredentials({ OS_CLOUD: 'lab', OS_CLIENT_CONFIG_FILE: '/tmp/c.yaml' }, read);
    expect(c).toMatchObject({ authUrl: 'http://127.0.0.1:5000', regionName: 'RegionOne', insecure: true, profileKey: 'hmackey' });
    expect(c.source).toContain('/tmp/c.yaml');
    expect(() => loadCredentials({ OS_CLOUD: 'broken', OS_CLIENT_CONFIG_FILE: '/tmp/c.yaml' }, read)).toThrow(/^auth\.auth_url: must be an http/);
    expect(() => loadCredentials({ OS_CLOUD: 'missing', OS_CLIENT_CONFIG_FILE: '/tmp/c.yaml' }, read)).toThrow(/^OS_CLOUD: cloud "missing" was not found/);
  });
  it('build the Keystone v3 password body with domains by name or id', () => {
    const c = loadCredentials(env, () => undefined);
    // The same body the recorder sent to the real Keystone (password aside).
    const recorded = fixture('03-keystone-auth-admin.json').request.body;
    recorded.auth.identity.password.user.password = 's3cret';
    expect(authBody(c)).toEqual(recorded);
    const byId = authBody({ ...c, userDomainName: undefined, userDomainId: 'default', projectName: undefined, projectId: 'p1' }) as { auth: { scope: unknown; identity: { password: { user: { domain: unknown } } } } };
    expect(byId.auth.scope).toEqual({ project: { id: 'p1' } });
    expect(byId.auth.identity.password.user.domain).toEqual({ id: 'default' });
  });
});

describe('catalog', () => {
  const catalog = fixture('03-keystone-auth-admin.json').response.body.token.catalog;
  it('finds endpoints in the recorded Zed catalog by type, interface and region', () => {
    expect(findEndpoint(catalog, 'compute', 'public', 'RegionOne')).toBe('http://127.0.0.1:8774/v2.1');
    expect(findEndpoint(catalog, 'identity', 'internal')).toBe('http://127.0.0.1:5000/v3');
  });
  it('says which services exist when one is missing', () => {
    expect(() => findEndpoint(catalog, 'event', 'public')).toThrow(/no "event" service \(it has alarming, compute, image, placement, identity, network\)/);
  });
});

describe('errors', () => {
  it('pull the message out of each service error shape', () => {
    expect(faultMessage(JSON.stringify(fixture('50-nova-reset-state-member.json').response.body))).toMatch(/^Policy doesn't allow/);
    expect(faultMessage(JSON.stringify(fixture('38-aodh-create-alarm-invalid.json').response.body))).toMatch(/^Invalid input for field\/attribute severity/);
    expect(faultMessage(JSON.stringify(fixture('26-neutron-create-network-member.json').response.body))).toMatch(/^Unable to create the network/);
    expect(faultMessage(JSON.stringify(fixture('04-keystone-auth-wrong-password.json').response.body))).toMatch(/requires authentication/);
  });
  it('keep a short body excerpt', () => {
    const e = new OpenStackHttpError({ status: 500, method: 'GET', url: 'http://x/y', requestId: 'req-1', body: 'x'.repeat(5000) });
    expect(e.bodyExcerpt.length).toBeLessThan(310);
    expect(e.message).toContain('[request req-1]');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { createServer, type Server } from 'node:net';
import {
  ConnectionError,
  NotSupportedError,
  OpenStackHttpError,
  TimeoutError,
} from '../../src/shared/index.js';
import { OpenStackClient, Session, type SessionOptions } from '../../src/openstack/index.js';
import { capturingLogger } from '../helpers/lab.js';
import { recordingCloud } from '../helpers/recording.js';

type Rec = Awaited<ReturnType<typeof recordingCloud>>;

describe('Session against the lab cloud', () => {
  let rec: Rec | undefined;
  let client: OpenStackClient | undefined;
  const sleeps: number[] = [];
  const make = async (opts: Partial<SessionOptions> = {}, cloudOpts = {}) => {
    if (rec) await rec.stop();
    rec = await recordingCloud(cloudOpts);
    client = OpenStackClient.create({ credentials: rec.credentials, sleep: async (ms) => void sleeps.push(ms), ...opts });
    return { rec, client };
  };
  afterEach(async () => {
    client?.close();
    await rec?.stop();
    sleeps.length = 0;
  });

  it('negotiates the compute microversion once and sends both headers on every compute call', async () => {
    const { rec, client } = await make();
    await Promise.all([client.compute.services.list(), client.compute.hypervisors.listDetail(), client.compute.flavors.list()]);
    await client.compute.servers.listDetail({ allTenants: true });
    const versionDocs = rec.requests.filter((r) => r.path === '/compute/v2.1/');
    expect(versionDocs).toHaveLength(1);
    const calls = rec.requests.filter((r) => r.path.startsWith('/compute/v2.1/') && r.path !== '/compute/v2.1/');
    expect(calls).toHaveLength(4);
    for (const c of calls) {
      expect(c.headers['x-openstack-nova-api-version']).toBe('2.53');
      expect(c.headers['openstack-api-version']).toBe('compute 2.53');
    }
  });

  it('takes the server maximum when it is below what the client knows, and honours a pin', async () => {
    await make({}, { computeVersions: { min: '2.1', max: '2.38' } });
    expect(await client!.compute.microversion()).toBe('2.38');
    client!.close();
    client = OpenStackClient.create({ credentials: rec!.credentials, computeMicroversion: '2.11' });
    expect(await client.compute.microversion()).toBe('2.11');
    expect((await client.compute.services.forceDown('compute-2', true)).path).toBe('legacy-2.11');
  });

  it('refuses before sending what the negotiated microversion lacks', async () => {
    await make({ computeMicroversion: '2.30' });
    await expect(
      client!.compute.servers.create({ name: 'x', imageRef: 'i', flavorRef: 'f', networks: 'none' }),
    ).rejects.toBeInstanceOf(NotSupportedError);
    expect(rec!.requests.some((r) => r.method === 'POST' && r.path.endsWith('/servers'))).toBe(false);
    client!.close();
    client = OpenStackClient.create({ credentials: rec!.credentials, computeMicroversion: '2.5' });
    await expect(client.compute.services.forceDown('compute-1', true)).rejects.toThrow(/needs microversion 2\.11/);
  });

  it('a pin below the server minimum is a clear error', async () => {
    await make({ computeMicroversion: '2.1' }, { computeVersions: { min: '2.10', max: '2.60' } });
    await expect(client!.compute.microversion()).rejects.toThrow(/below the server's minimum 2\.10/);
  });

  it('re-authenticates once, shared by concurrent requests, after the cloud revokes the token', async () => {
    const { rec, client } = await make();
    await client.compute.services.list();
    const authCalls = () => rec.requests.filter((r) => r.method === 'POST' && r.path === '/identity/v3/auth/tokens').length;
    expect(authCalls()).toBe(1);
    expect(rec.cloud.revokeTokens()).toBeGreaterThan(0);
    const results = await Promise.all(Array.from({ length: 5 }, () => client.compute.services.list({ host: 'compute-1' })));
    expect(results.every((r) => r.length === 1)).toBe(true);
    expect(authCalls()).toBe(2);
    expect(rec.requests.filter((r) => r.status === 401)).toHaveLength(5);
  });

  it('gives up after one re-auth when the fresh token is rejected too', async () => {
    rec = await recordingCloud({}, (req, cloud) => {
      // Every compute call finds its token revoked: the client must not loop.
      if (req.originalUrl.startsWith('/compute/v2.1/os-services')) cloud.revokeTokens();
    });
    client = OpenStackClient.create({ credentials: rec.credentials });
    await expect(client.compute.services.list()).rejects.toMatchObject({ status: 401 });
    expect(rec.requests.filter((r) => r.path.startsWith('/compute/v2.1/os-services'))).toHaveLength(2);
  });

  it('retries idempotent requests on 503 with capped backoff', async () => {
    const { rec, client } = await make({ retry: { retries: 4, baseDelayMs: 100, maxDelayMs: 250 } });
    await client.compute.microversion();
    rec.cloud.faults.failApi('compute', 503, { count: 3 });
    const services = await client.compute.services.list();
    expect(services).toHaveLength(2);
    const gets = rec.requests.filter((r) => r.path.startsWith('/compute/v2.1/os-services'));
    expect(gets.map((g) => g.status)).toEqual([503, 503, 503, 200]);
    expect(sleeps).toHaveLength(3);
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(250 * 1.2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(80);
  });

  it('stops retrying after the budget and reports the status, method, URL and request id', async () => {
    const { rec, client } = await make({ retry: { retries: 2 } });
    await client.compute.microversion();
    rec.cloud.faults.failApi('compute', 502);
    const err = await client.compute.services.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenStackHttpError);
    const e = err as OpenStackHttpError;
    expect(e.status).toBe(502);
    expect(e.method).toBe('GET');
    expect(e.url).toContain('/compute/v2.1/os-services');
    expect(e.requestId).toMatch(/^req-/);
    expect(e.message).toContain('Injected fault');
    expect(rec.requests.filter((r) => r.path.startsWith('/compute/v2.1/os-services'))).toHaveLength(3);
  });

  it('does not repeat a non-idempotent POST on 503', async () => {
    const { rec, client } = await make();
    await client.compute.microversion();
    rec.cloud.faults.failApi('compute', 503, { count: 1, method: 'POST' });
    await expect(client.compute.flavors.create({ name: 'f', ram: 64, vcpus: 1, disk: 1 })).rejects.toMatchObject({ status: 503 });
    expect(rec.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/flavors'))).toHaveLength(1);
  });

  it('honours Retry-After on 429', async () => {
    const { rec, client } = await make({ retry: { baseDelayMs: 1000, maxDelayMs: 5000 } });
    await client.compute.microversion();
    rec.cloud.faults.failApi('compute', 429, { count: 1 });
    await client.compute.services.list();
    expect(sleeps).toEqual([0]); // the sim says Retry-After: 0, not our 1 s backoff
  });

  it('times out a slow API with a TimeoutError naming the request', async () => {
    const { rec, client } = await make({ timeoutMs: 100, retry: { retries: 0 } });
    await client.compute.microversion();
    rec.cloud.faults.slowApi('compute', 400);
    const err = await client.compute.services.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/GET .*os-services got no answer within 100 ms/);
  });

  it('names the service and the override variable when the catalog lacks a service', async () => {
    const { rec, client } = await make();
    const withoutAodh = { ...rec.credentials, regionName: 'Nowhere' };
    client.close();
    const c = OpenStackClient.create({ credentials: withoutAodh });
    try {
      await expect(c.alarming.list()).rejects.toThrow(/"alarming" service has no public endpoint in region Nowhere/);
    } finally {
      c.close();
    }
  });

  it('uses an endpoint override instead of the catalog', async () => {
    const { rec } = await make();
    const c = OpenStackClient.create({ credentials: { ...rec.credentials, endpointOverrides: { alarming: `${rec.url}/alarming/` } } });
    try {
      expect(await c.alarming.list()).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('rejects wrong credentials with a message that says what to check, without the password', async () => {
    const { rec } = await make();
    const c = OpenStackClient.create({ credentials: { ...rec.credentials, password: 'not-the-password-123' } });
    try {
      const err = (await c.compute.services.list().catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(OpenStackHttpError);
      expect(err.message).toMatch(/401.*rejected the credentials from test/);
      expect(err.message).not.toContain('not-the-password-123');
    } finally {
      c.close();
    }
  });

  it('never writes the password or a token into the logs', async () => {
    const { logger, lines } = capturingLogger('trace');
    const { rec, client } = await make({ logger });
    await client.compute.services.list();
    rec.cloud.revokeTokens();
    await client.compute.servers.listDetail({ allTenants: true });
    rec.cloud.faults.failApi('compute', 503, { count: 1 });
    await client.compute.hypervisors.listDetail();
    await client.compute.servers.get('00000000-0000-4000-8000-000000000000').catch(() => undefined);
    const tokens = rec.requests.map((r) => r.headers['x-auth-token']).filter((t): t is string => typeof t === 'string');
    expect(new Set(tokens).size).toBe(2);
    const text = lines.join('');
    expect(lines.length).toBeGreaterThan(5);
    expect(text).toContain('openstack request');
    expect(text).not.toContain(rec.cloud.adminPassword);
    for (const t of tokens) expect(text).not.toContain(t);
  });

  it('carries OSProfiler headers that a server would accept', async () => {
    const traceId = '4c1b8e7a-2f0f-4d6e-9a8b-1c2d3e4f5a6b';
    const { rec, client } = await make({ profiler: { hmacKey: 'doctor', traceId } });
    await client.compute.services.list();
    const { createHmac } = await import('node:crypto');
    for (const r of rec.requests) {
      const info = String(r.headers['x-trace-info']);
      const decoded = JSON.parse(Buffer.from(info.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString());
      expect(Object.keys(decoded).sort()).toEqual(['base_id', 'parent_id']);
      expect(decoded.base_id).toBe(traceId);
      expect(r.headers['x-trace-hmac']).toBe(createHmac('sha1', 'doctor').update(info).digest('hex'));
    }
  });
});

describe('Session connection errors', () => {
  it('says it cannot reach Keystone and points at OS_AUTH_URL when nothing listens', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const sleeps: number[] = [];
    const s = new Session({
      credentials: {
        authUrl: `http://127.0.0.1:${port}/v3`, username: 'admin', password: 'x', projectName: 'admin',
        userDomainName: 'Default', projectDomainName: 'Default', interface: 'public', insecure: false, endpointOverrides: {}, source: 'OS_* variables',
      },
      sleep: async (ms) => void sleeps.push(ms),
    });
    const err = (await s.token().catch((e: unknown) => e)) as ConnectionError;
    s.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNREFUSED');
    // Printed in full (what a test runner or an error logger shows), the error holds no password.
    expect(inspect(err, { depth: Infinity, showHidden: true })).not.toContain('"password":"x"');
    expect(err.message).toMatch(/cannot reach Keystone at http:\/\/127\.0\.0\.1:\d+\/v3 .*check OS_AUTH_URL/);
    expect(sleeps.length).toBe(4);
  });

  it('says when OS_AUTH_URL is not a Keystone v3 endpoint', async () => {
    const rec = await recordingCloud();
    const s = new Session({ credentials: { ...rec.credentials, authUrl: `${rec.url}/compute` } });
    try {
      await expect(s.token()).rejects.toThrow(/answered 404.*is OS_AUTH_URL .* a Keystone v3 endpoint\?/);
    } finally {
      s.close();
      await rec.stop();
    }
  });
});

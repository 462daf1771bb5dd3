import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ConnectionError } from '../../src/shared/index.js';
import { createOpenStackClient, loadCredentials, type OpenStackClient } from '../../src/openstack/index.js';
import { startCloud, type LabCloud } from '../../src/lab/index.js';

const readFile = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

describe('TLS to the cloud', () => {
  let dir: string;
  let lab: LabCloud;
  const clients: OpenStackClient[] = [];
  const make = (extra: Parameters<typeof createOpenStackClient>[0]['credentials'] | object = {}) => {
    const c = createOpenStackClient({ credentials: { ...lab.credentials(), ...extra } });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'doctor-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    lab = await startCloud({ tls: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies the certificate and says how to fix a failure', async () => {
    expect(lab.url).toMatch(/^https:/);
    const err = (await make().compute.services.list().catch((e: unknown) => e)) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/TLS verification .* failed \(DEPTH_ZERO_SELF_SIGNED_CERT\); set OS_CACERT/);
  });

  /** The OS_* variables of the lab's admin, as an openrc would set them. */
  const openrc = (extra: Record<string, string>) => {
    const c = lab.credentials();
    return { OS_AUTH_URL: c.authUrl, OS_USERNAME: c.username, OS_PASSWORD: c.password, OS_PROJECT_NAME: c.projectName, ...extra };
  };

  it('trusts the CA bundle named by OS_CACERT, read once when the credentials are loaded', async () => {
    const credentials = loadCredentials(openrc({ OS_CACERT: join(dir, 'cert.pem') }), readFile);
    expect(credentials.ca).toBe(readFileSync(join(dir, 'cert.pem'), 'utf8'));
    const c = createOpenStackClient({ credentials });
    clients.push(c);
    expect(await c.compute.services.list()).toHaveLength(2);
  });

  it('skips verification only when asked (OS_INSECURE)', async () => {
    expect(await make({ insecure: true }).compute.services.list()).toHaveLength(2);
  });

  it('names OS_CACERT (or clouds.yaml cacert) when the bundle cannot be read', () => {
    const load = (env: Record<string, string | undefined>) => () => loadCredentials(env, readFile);
    expect(load(openrc({ OS_CACERT: join(dir, 'missing.pem') }))).toThrow(ConfigError);
    expect(load(openrc({ OS_CACERT: join(dir, 'missing.pem') }))).toThrow(/^OS_CACERT: cannot read a CA bundle .*missing\.pem/);
    expect(load(openrc({ OS_CACERT: join(dir, 'key.pem') }))).toThrow(/^OS_CACERT: cannot read a CA bundle \(PEM certificates\) from .*key\.pem/);
    writeFileSync(join(dir, 'clouds.yaml'), `clouds:\n  tls:\n    auth: {auth_url: '${lab.url}/identity/v3', username: admin, password: x, project_name: admin}\n    cacert: ${join(dir, 'nope.pem')}\n`);
    expect(load({ OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml'), OS_CLOUD: 'tls' })).toThrow(/^cacert: cannot read a CA bundle .*nope\.pem \(in .*clouds\.yaml \(cloud "tls"\)\)/);
  });

  it('turns OSProfiler on from the credentials profile key, with a fresh trace id', () => {
    const c = make({ insecure: true, profileKey: 'doctor' });
    expect(c.session.traceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(make({ insecure: true }).session.traceId).toBeUndefined();
  });
});

import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { toCloudsYaml, type CloudCredentials } from '../../openstack/index.js';
import { createCloudApp } from './app.js';
import { Cloud, type CloudOptions } from './cloud.js';

export interface StartCloudOptions extends CloudOptions {
  /** 0 = any free port. */
  port?: number;
  /** Loopback unless told otherwise. */
  host?: string;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

export interface LabCloud {
  cloud: Cloud;
  /** Base URL, e.g. http://127.0.0.1:43123 */
  url: string;
  authUrl: string;
  credentials(): CloudCredentials;
  cloudsYaml(name?: string): string;
  /** openrc-style lines; the password is included only when asked for. */
  envLines(opts?: { withPassword?: boolean }): string[];
  stop(): Promise<void>;
}

/** Starts the simulated cloud on a port (loopback by default). */
export async function startCloud(opts: StartCloudOptions = {}): Promise<LabCloud> {
  const cloud = new Cloud(opts);
  const app = createCloudApp(cloud);
  const host = opts.host ?? '127.0.0.1';
  const server: Server = await new Promise((resolve, reject) => {
    const srv: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, app) : createHttpServer(app);
    srv.once('error', reject);
    srv.once('listening', () => resolve(srv));
    srv.listen(opts.port ?? 0, host);
  });
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  cloud.baseUrl = `${opts.tls ? 'https' : 'http'}://${urlHost}:${port}`;
  const authUrl = `${cloud.baseUrl}/identity/v3`;

  const credentials = (): CloudCredentials => ({
    authUrl,
    username: cloud.adminUser,
    password: cloud.adminPassword,
    userDomainName: 'Default',
    projectName: 'admin',
    projectDomainName: 'Default',
    regionName: cloud.region,
    interface: 'public',
    insecure: false,
    endpointOverrides: {},
    source: 'the embedded lab cloud',
  });

  return {
    cloud,
    url: cloud.baseUrl,
    authUrl,
    credentials,
    cloudsYaml: (name = 'doctor-lab') => toCloudsYaml(name, credentials()),
    envLines: ({ withPassword = false } = {}) => [
      `export OS_AUTH_URL=${authUrl}`,
      `export OS_USERNAME=${cloud.adminUser}`,
      withPassword ? `export OS_PASSWORD=${cloud.adminPassword}` : 'export OS_PASSWORD=<see clouds.yaml>',
      'export OS_PROJECT_NAME=admin',
      'export OS_USER_DOMAIN_NAME=Default',
      'export OS_PROJECT_DOMAIN_NAME=Default',
      `export OS_REGION_NAME=${cloud.region}`,
      'export OS_IDENTITY_API_VERSION=3',
    ],
    stop: () =>
      new Promise<void>((resolve) => {
        cloud.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

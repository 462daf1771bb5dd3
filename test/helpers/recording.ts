import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cloud, createCloudApp, type CloudOptions } from '../../src/lab/index.js';
import type { CloudCredentials } from '../../src/openstack/index.js';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  status?: number;
}

/** The lab cloud behind a thin recorder, so tests can see exactly what the client sent. */
export async function recordingCloud(opts: CloudOptions = {}, before?: (req: express.Request, cloud: Cloud) => void): Promise<{
  cloud: Cloud;
  requests: Recorded[];
  credentials: CloudCredentials;
  url: string;
  stop: () => Promise<void>;
}> {
  const cloud = new Cloud({ buildDelayMs: 5, ...opts });
  const requests: Recorded[] = [];
  const app = express();
  app.use((req, res, next) => {
    const rec: Recorded = { method: req.method, path: req.originalUrl, headers: { ...req.headers } };
    requests.push(rec);
    before?.(req, cloud);
    res.on('finish', () => (rec.status = res.statusCode));
    next();
  });
  app.use(createCloudApp(cloud));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cloud.baseUrl = url;
  return {
    cloud,
    requests,
    url,
    credentials: {
      authUrl: `${url}/identity/v3`, username: 'admin', password: cloud.adminPassword, userDomainName: 'Default',
      projectName: 'admin', projectDomainName: 'Default', interface: 'public', insecure: false, endpointOverrides: {}, source: 'test',
    },
    stop: () =>
      new Promise<void>((resolve) => {
        cloud.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

import express, { type Express, type Request, type Response, Router } from 'express';
import { jsonBody } from '../../shared/index.js';
import { aodhRouter } from './aodh.js';
import type { Cloud } from './cloud.js';
import { glanceRouter } from './glance.js';
import { authMiddleware, auth, isRecord, qs, type ServiceKind, MAX_REQUEST_BODY } from './http.js';
import { keystoneRouter } from './keystone.js';
import { neutronRouter } from './neutron.js';
import { novaRouter } from './nova.js';
import { exactJson, requestIdMiddleware } from './http.js';

const SERVICES: Array<[ServiceKind, (c: Cloud) => Router]> = [
  ['identity', keystoneRouter],
  ['compute', novaRouter],
  ['image', glanceRouter],
  ['network', neutronRouter],
  ['alarming', aodhRouter],
];
const KINDS = SERVICES.map(([k]) => k);

/** The whole simulated cloud as one express app: each service under its own path prefix. */
export function createCloudApp(cloud: Cloud): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(exactJson);
  for (const [kind, router] of SERVICES) {
    app.use(`/${kind}`, requestIdMiddleware(kind), cloud.faults.middleware(kind), router(cloud));
  }
  app.use('/_lab', controlRouter(cloud));
  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 404, message: `No simulated service at ${req.path}; services live under /${KINDS.join(', /')}`, title: 'Not Found' } });
  });
  return app;
}

/** Test and demo switches over HTTP (admin token required): trace feed, faults, token revocation. */
function controlRouter(cloud: Cloud): Router {
  const r = Router();
  r.use(authMiddleware(cloud.state, cloud.now), jsonBody(MAX_REQUEST_BODY));
  r.use((_req, res, next) => {
    if (!auth(res).isAdmin) {
      res.status(403).json({ error: 'the lab control API needs an admin token' });
      return;
    }
    next();
  });
  r.get('/trace', (req, res) => {
    res.json({ trace: cloud.traceSince(Number(qs(req, 'since') ?? 0)) });
  });
  r.get('/faults', (_req, res) => {
    res.json(cloud.faults.describe());
  });
  r.post('/faults', (req, res) => {
    const b = isRecord(req.body) ? req.body : {};
    const service = b['service'] as ServiceKind;
    switch (b['action']) {
      case 'fail':
        if (!KINDS.includes(service) || typeof b['status'] !== 'number') {
          res.status(400).json({ error: `fail needs "service" (one of ${KINDS.join(', ')}) and a numeric "status"` });
          return;
        }
        cloud.faults.failApi(service, b['status'], {
          ...(typeof b['count'] === 'number' ? { count: b['count'] } : {}),
          ...(typeof b['method'] === 'string' ? { method: b['method'] } : {}),
          ...(typeof b['after'] === 'number' ? { after: b['after'] } : {}),
        });
        break;
      case 'slow':
        if (!KINDS.includes(service) || typeof b['ms'] !== 'number') {
          res.status(400).json({ error: `slow needs "service" (one of ${KINDS.join(', ')}) and a numeric "ms"` });
          return;
        }
        cloud.faults.slowApi(service, b['ms']);
        break;
      case 'drop-webhooks':
        cloud.faults.dropWebhooks(typeof b['count'] === 'number' ? b['count'] : undefined);
        break;
      case 'revoke-tokens':
        res.json({ revoked: cloud.revokeTokens() });
        return;
      case 'reset':
        cloud.faults.reset();
        break;
      default:
        res.status(400).json({ error: 'action must be one of fail, slow, drop-webhooks, revoke-tokens, reset' });
        return;
    }
    res.json(cloud.faults.describe());
  });
  return r;
}

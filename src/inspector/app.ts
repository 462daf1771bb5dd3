import { timingSafeEqual } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { jsonTail, requestArrival, jsonBody } from '../shared/index.js';
import { HOST_DOWN, parseDoctorEvents, parseVitrageEvent, type InspectorEvent, type Parsed } from './events.js';
import type { HostHandling, Inspector } from './inspector.js';

export interface InspectorAppOptions {
  /** Require `Authorization: Bearer <token>` (or Doctor's X-Auth-Token) on event calls. */
  token?: string;
  /** done: answer after every action (Doctor's semantics); accepted: 202 at once. */
  respond?: 'done' | 'accepted';
}

/** The inspector's HTTP face: Doctor's PUT /events, Vitrage's POST /v1/event, GET /health. */
export function createInspectorApp(inspector: Inspector, opts: InspectorAppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', handled: inspector.records().length });
  });
  const guarded = express.Router();
  guarded.use(tokenCheck(opts.token));
  guarded.use(jsonBody('1mb'));
  guarded.get('/handled', (_req, res) => {
    res.json(inspector.records());
  });
  guarded.put('/events', (req, res) => void accept(parseDoctorEvents(req.body), requestArrival(req), inspector, opts, res));
  guarded.post('/v1/event', (req, res) => void accept(parseVitrageEvent(req.body), requestArrival(req), inspector, opts, res));
  app.use(guarded);
  jsonTail(app, 'the inspector takes PUT /events (Doctor) and POST /v1/event (Vitrage)');
  return app;
}

async function accept(parsed: Parsed, arrivedAt: number | undefined, inspector: Inspector, opts: InspectorAppOptions, res: Response): Promise<void> {
  if (!parsed.ok) {
    res.status(400).json({ error: `${parsed.field}: ${parsed.message}`, field: parsed.field });
    return;
  }
  const down = parsed.events.filter((e: InspectorEvent) => e.type === HOST_DOWN && e.details.status === 'down');
  const work = down.map((e) => inspector.onHostDown(e.details.hostname, {
    time: e.time, ...(arrivedAt !== undefined ? { arrivedAt } : {}), ...(e.details.monitor ? { monitor: e.details.monitor } : {}), ...(e.details.monitor_event_id ? { eventId: e.details.monitor_event_id } : {}),
  }));
  if (opts.respond === 'accepted') {
    res.status(202).json({ status: 'accepted', hosts: down.map((e) => e.details.hostname), ignored: parsed.events.length - down.length });
    return;
  }
  const done: HostHandling[] = await Promise.all(work);
  const errors = done.flatMap((d) => d.errors);
  res.json({
    status: errors.length ? 'FAILED' : 'OK',
    hosts: done.map((d) => ({ host: d.host, vms: d.vms.length, forcedDown: d.markedDownAt !== undefined })),
    ignored: parsed.events.length - down.length,
    ...(errors.length ? { errors } : {}),
  });
}

function tokenCheck(token: string | undefined) {
  const expected = token ? Buffer.from(token) : undefined;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!expected) return next();
    const auth = req.get('authorization');
    const given = auth?.startsWith('Bearer ') ? auth.slice(7) : req.get('x-auth-token');
    const g = Buffer.from(given ?? '');
    if (g.length !== expected.length || !timingSafeEqual(g, expected)) {
      res.status(401).json({ error: 'this inspector needs its token: send Authorization: Bearer <token>' });
      return;
    }
    next();
  };
}

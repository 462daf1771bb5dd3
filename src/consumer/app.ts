import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { describeIssue, jsonTail, requestArrival, jsonBody } from '../shared/index.js';
import { alarmNotificationSchema, type Consumer } from './consumer.js';

/** POST /failure takes Aodh's webhook; GET /notifications shows what arrived; GET /health. */
export function createConsumerApp(consumer: Consumer, now: () => number): Express {
  const app = express();
  app.disable('x-powered-by');
  // The instant that counts is when the request's first bytes arrived (stamped by listen), not when it was parsed.
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals['arrivedAt'] = requestArrival(req) ?? now();
    next();
  });
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', alarms: consumer.received().length });
  });
  app.get('/notifications', (_req, res) => {
    res.json(consumer.received());
  });
  app.post('/failure', jsonBody('1mb'), (req, res) => {
    const parsed = alarmNotificationSchema.safeParse(req.body);
    if (!parsed.success) {
      const { field, message } = describeIssue(parsed.error);
      res.status(400).json({ error: `${field}: ${message}`, field });
      return;
    }
    const rec = consumer.record(parsed.data, res.locals['arrivedAt'] as number, req.get('x-openstack-request-id'));
    res.json({ status: 'OK', alarm_id: rec.alarmId, count: rec.count });
  });
  jsonTail(app, 'Aodh should POST to /failure');
  return app;
}

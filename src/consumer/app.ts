import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { describeIssue, jsonTail, requestArrival, jsonBody } from '../shared/index.js';
import { alarmNotificationSchema, type Consumer } from './consumer.js';

/** POST /failure takes Aodh's webhook; GET /notifications shows what arrived; GET /health. */
export function createConsumerApp(consumer: Consumer, now: () => number): Express {
  warmUp();
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

/**
 * zod compiles a schema's checks on its first parses (3.3 ms for the first, about 0.1 ms each for the next
 * few dozen, measured): paid here, at start, and not by the first alarms, which arrive while the fault's
 * other notifications are still coming in.
 */
function warmUp(): void {
  const trait = (name: string, value: string | number) => [name, typeof value === 'number' ? 2 : 1, value];
  for (let i = 0; i < 30; i++) {
    alarmNotificationSchema.safeParse({
      alarm_name: `warm-up-${i}`, alarm_id: `warm-up-${i}`, severity: 'moderate', previous: 'insufficient data', current: 'alarm', reason: 'warm-up',
      reason_data: { type: 'event', event: { message_id: `m-${i}`, event_type: 'compute.instance.update', generated: '2026-01-01T00:00:00.000000', traits: [trait('instance_id', `vm-${i}`), trait('state', 'error'), trait('vcpus', 1)], raw: {}, message_signature: 'x' } },
    });
  }
}

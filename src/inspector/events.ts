import { z } from 'zod';
import { describeIssue } from '../shared/index.js';

/**
 * The event shapes an inspector accepts: Doctor's sample monitor (a list at
 * PUT /events), Vitrage (one object at POST /v1/event) and the Doctor spec's
 * {"event": {...}} wrapper. Validation names the bad field.
 */
const details = z.looseObject({
  hostname: z.string().min(1),
  status: z.string().min(1),
  monitor: z.string().optional(),
  monitor_event_id: z.string().optional(),
});

export const eventSchema = z.looseObject({
  time: z.string().min(1),
  type: z.string().min(1),
  details,
});

export type InspectorEvent = z.infer<typeof eventSchema>;

export type Parsed = { ok: true; events: InspectorEvent[] } | { ok: false; field: string; message: string };

function fail(error: z.ZodError, prefix: string): Parsed {
  return { ok: false, ...describeIssue(error, prefix) };
}

/** PUT /events: a list of events, or the {"event": {...}} wrapper. */
export function parseDoctorEvents(body: unknown): Parsed {
  if (body && typeof body === 'object' && !Array.isArray(body) && 'event' in body) {
    const r = eventSchema.safeParse((body as { event: unknown }).event);
    return r.success ? { ok: true, events: [r.data] } : fail(r.error, 'event');
  }
  const r = z.array(eventSchema).min(1, 'must hold at least one event').safeParse(body);
  return r.success ? { ok: true, events: r.data } : fail(r.error, 'events');
}

/** POST /v1/event: one Vitrage event object. */
export function parseVitrageEvent(body: unknown): Parsed {
  const r = eventSchema.safeParse(body);
  return r.success ? { ok: true, events: [r.data] } : fail(r.error, 'event');
}

export const HOST_DOWN = 'compute.host.down';

import { type Request, type Response, Router } from 'express';
import { jsonBody } from '../../shared/index.js';
import type { Cloud } from './cloud.js';
import { isoMicros, pyJsonDumps, pyRepr, pyType, uuid } from './format.js';
import { auth, authMiddleware, errorHandler, isRecord, qsAll, sendError, MAX_REQUEST_BODY } from './http.js';
import type { AlarmRec } from './state.js';

const SEVERITIES = ['moderate', 'low', 'critical'];
/** Aodh's alarm states (state_kind) and the reason a state set through the API gets. */
const STATES = ['ok', 'alarm', 'insufficient data'];
const MANUAL_REASON = 'Manually set via API';
const OPS = ['lt', 'le', 'eq', 'ne', 'ge', 'gt'];
const ACTION_SCHEMES = ['http:', 'https:', 'log:', 'test:', 'trust+http:', 'trust+https:', 'zaqar:', 'trust+zaqar:'];
/** The query fields Aodh's alarm list accepts (ALARM_QUERY_FIELDS_ALLOWED; all_projects is a switch, not a filter). */
const LIST_FIELDS: Record<string, (a: AlarmRec) => string> = {
  all_projects: () => '', user_id: (a) => a.userId, project_id: (a) => a.projectId, type: (a) => a.type, name: (a) => a.name,
  enabled: (a) => String(a.enabled), state: (a) => a.state, severity: (a) => a.severity, timestamp: (a) => a.timestamp, repeat_actions: () => 'false',
};

const err = (res: Response, status: number, message: string) => sendError(res, 'alarming', status, message);
const invalid = (res: Response, field: string, value: unknown, why: string) =>
  err(res, 400, `Invalid input for field/attribute ${field}. Value: ${pyRepr(value)}. ${why}`);

/** Aodh v2 subset: event alarms (create, get, list, delete) and their history. Evaluation is in notifications.ts. */
export function aodhRouter(cloud: Cloud): Router {
  const r = Router();
  const s = cloud.state;

  r.get('/', (_req, res) => {
    res.json({
      versions: {
        values: [{
          id: 'v2',
          links: [{ href: `${cloud.baseUrl}/alarming/v2`, rel: 'self' }, { href: 'https://docs.openstack.org/', rel: 'describedby', type: 'text/html' }],
          'media-types': [
            { base: 'application/json', type: 'application/vnd.openstack.telemetry-v2+json' },
            { base: 'application/xml', type: 'application/vnd.openstack.telemetry-v2+xml' },
          ],
          status: 'stable',
          updated: '2013-02-13T00:00:00Z',
        }],
      },
    });
  });

  const view = (a: AlarmRec, fresh = false) => ({
    alarm_id: a.id, name: a.name, description: a.description, enabled: a.enabled, ok_actions: a.okActions,
    alarm_actions: a.alarmActions, insufficient_data_actions: a.insufficientDataActions, repeat_actions: a.repeatActions,
    type: a.type, time_constraints: [], project_id: a.projectId, user_id: a.userId, timestamp: a.timestamp,
    state: a.state, state_timestamp: a.stateTimestamp, state_reason: a.stateReason, severity: a.severity,
    evaluate_timestamp: fresh ? a.evaluateTimestamp : a.evaluateTimestamp.slice(0, 19),
    event_rule: { event_type: a.eventType, query: a.query.map((q) => ({ field: q.field, op: q.op, value: q.value, type: q.type })) },
  });
  const visible = (a: AlarmRec, res: Response) => auth(res).isAdmin || a.projectId === auth(res).projectId;

  const find = (req: Request, res: Response) => {
    const id = String(req.params['id']);
    const a = s.alarms.get(id);
    if (!a || !visible(a, res)) {
      err(res, 404, `Alarm ${id} not found${auth(res).isAdmin ? '' : ` in project ${auth(res).projectId}`}`);
      return undefined;
    }
    return a;
  };

  const v2 = Router();
  v2.use(authMiddleware(s, cloud.now));
  // The alarm's state: its body is a bare JSON string ("ok"), which the other routes' strict body reader refuses.
  v2.put('/alarms/:id/state', jsonBody(MAX_REQUEST_BODY, { anyTopLevel: true }), (req, res) => {
    const a = find(req, res);
    if (!a) return;
    // Aodh checks the value itself (WSME does not validate this body): anything but the three states is refused.
    const state = req.body as unknown;
    if (typeof state !== 'string' || !STATES.includes(state)) return err(res, 400, 'state invalid');
    const now = isoMicros(cloud.now());
    a.state = state;
    a.stateTimestamp = now;
    a.stateReason = MANUAL_REASON;
    const history = s.alarmHistory.get(a.id) ?? [];
    history.push({
      eventId: uuid(), alarmId: a.id, type: 'state transition', detail: pyJsonDumps({ state, state_reason: MANUAL_REASON }),
      projectId: auth(res).projectId, userId: auth(res).user.id, onBehalfOf: a.projectId, timestamp: now,
    });
    s.alarmHistory.set(a.id, history);
    res.json(state);
  });
  v2.get('/alarms/:id/state', (req, res) => {
    const a = find(req, res);
    if (a) res.json(a.state);
  });
  v2.use(jsonBody(MAX_REQUEST_BODY));
  v2.post('/alarms', (req, res) => createAlarm(cloud, req, res, view));
  v2.get('/alarms', (req, res) => {
    const fields = qsAll(req, 'q.field');
    const ops = qsAll(req, 'q.op');
    const values = qsAll(req, 'q.value');
    const pySet = (xs: Iterable<string>) => `{${[...xs].map((x) => pyRepr(x)).join(', ')}}`;
    const keys = new Set(fields);
    if ([...keys].some((k) => !LIST_FIELDS[k])) return err(res, 400, `Invalid input for field/attribute field. Value: ${pySet(keys)}. only fields ${pySet(Object.keys(LIST_FIELDS))} are allowed`);
    const usedOps = new Set(fields.map((_, i) => ops[i] ?? 'eq'));
    if ([...usedOps].some((o) => o !== 'eq')) return err(res, 400, `Invalid input for field/attribute op. Value: ${pySet(usedOps)}. only operations {'eq'} are allowed`);
    if (keys.size !== fields.length) return err(res, 400, `Invalid input for field/attribute field. Value: ${pySet(keys)}. duplicate query fields are not allowed`);
    const query = new Map(fields.map((f, i) => [f, f === 'enabled' ? (values[i] ?? '').toLowerCase() : values[i] ?? '']));
    const ctx = auth(res);
    // Aodh lists the caller's project only: an admin sees others with all_projects=true or a project_id query.
    if (/^(true|1|yes|on)$/i.test(query.get('all_projects') ?? '')) {
      if (!ctx.isAdmin) return err(res, 403, 'RBAC Authorization Failed');
    } else if (!query.has('project_id')) {
      query.set('project_id', ctx.projectId);
    } else if (!ctx.isAdmin && query.get('project_id') !== ctx.projectId) {
      return err(res, 401, `Not Authorized to access project ${query.get('project_id')}`);
    }
    query.delete('all_projects');
    const list = [...s.alarms.values()].filter((a) => [...query].every(([f, v]) => LIST_FIELDS[f]!(a) === v));
    res.json(list.map((a) => view(a)));
  });
  v2.get('/alarms/:id', (req, res) => {
    const a = find(req, res);
    if (a) res.json(view(a));
  });
  v2.delete('/alarms/:id', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    s.alarms.delete(a.id);
    s.alarmHistory.delete(a.id);
    res.status(204).end();
  });
  v2.get('/alarms/:id/history', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    const history = [...(s.alarmHistory.get(a.id) ?? [])].reverse();
    res.json(history.map((h) => ({
      event_id: h.eventId, alarm_id: h.alarmId, type: h.type, detail: h.detail,
      project_id: h.projectId, user_id: h.userId, on_behalf_of: h.onBehalfOf, timestamp: h.timestamp,
    })));
  });

  r.use('/v2', v2);
  r.use(errorHandler('alarming'));
  return r;
}

function createAlarm(cloud: Cloud, req: Request, res: Response, view: (a: AlarmRec, fresh?: boolean) => unknown): void {
  const s = cloud.state;
  const ctx = auth(res);
  const b = isRecord(req.body) ? req.body : {};
  if (typeof b['name'] !== 'string' || !b['name']) return invalid(res, 'name', b['name'], 'Mandatory field missing.');
  const severity = b['severity'] ?? 'low';
  if (typeof severity !== 'string' || !SEVERITIES.includes(severity)) {
    return invalid(res, 'severity', severity, `Value should be one of: ${SEVERITIES.join(', ')}`);
  }
  if (b['type'] === undefined) return invalid(res, 'type', b['type'], 'Mandatory field missing.');
  if (b['type'] !== 'event') {
    return err(res, 400, `Alarm type ${pyRepr(b['type'])} is not simulated: the lab cloud evaluates event alarms only`);
  }
  const rule = b['event_rule'];
  if (!isRecord(rule)) return err(res, 400, 'event_rule must be set for event type alarm');
  const query: AlarmRec['query'] = [];
  for (const q of Array.isArray(rule['query']) ? rule['query'] : []) {
    if (!isRecord(q) || typeof q['field'] !== 'string' || q['value'] === undefined) {
      return invalid(res, 'query', q, 'Mandatory field missing.');
    }
    const op = typeof q['op'] === 'string' ? q['op'] : 'eq';
    if (!OPS.includes(op)) return invalid(res, 'op', op, `Value should be one of: ${OPS.join(', ')}`);
    // WSME types Query.value as text: anything but a string is refused, as it refuses it.
    if (typeof q['value'] !== 'string') return invalid(res, 'value', q['value'], `Wrong type. Expected '<class 'str'>', got '${pyType(q['value'])}'`);
    query.push({ field: q['field'], op, value: q['value'], type: typeof q['type'] === 'string' ? q['type'] : '' });
  }
  const actions: Record<'alarm_actions' | 'ok_actions' | 'insufficient_data_actions', string[]> = { alarm_actions: [], ok_actions: [], insufficient_data_actions: [] };
  for (const key of Object.keys(actions) as Array<keyof typeof actions>) {
    const list = b[key] ?? [];
    if (!Array.isArray(list)) return invalid(res, key, list, 'Value should be a list');
    for (const url of list as unknown[]) {
      if (typeof url !== 'string') return invalid(res, key, list, `Wrong type. Expected '<class 'str'>', got '${pyType(url)}'`);
      let scheme = '';
      try {
        scheme = new URL(url).protocol;
      } catch {
        /* reported below */
      }
      if (!ACTION_SCHEMES.includes(scheme)) return err(res, 400, `Unsupported action ${url}`);
    }
    actions[key] = list as string[];
  }
  const projectId = typeof b['project_id'] === 'string' ? b['project_id'] : ctx.projectId;
  const userId = typeof b['user_id'] === 'string' ? b['user_id'] : ctx.user.id;
  if (!ctx.isAdmin && (projectId !== ctx.projectId || userId !== ctx.user.id)) {
    return err(res, 401, `Not Authorized to access project ${projectId}`);
  }
  const name = b['name'];
  if ([...s.alarms.values()].some((a) => a.name === name && a.projectId === projectId)) {
    return err(res, 409, `Alarm with name='${name}' exists`);
  }
  const now = isoMicros(cloud.now());
  const alarm: AlarmRec = {
    id: uuid(), name, description: typeof b['description'] === 'string' ? b['description'] : `Alarm when ${rule['event_type'] ?? '*'} event occurred.`,
    enabled: b['enabled'] !== false, type: 'event', severity, projectId, userId,
    alarmActions: actions.alarm_actions, okActions: actions.ok_actions, insufficientDataActions: actions.insufficient_data_actions,
    repeatActions: b['repeat_actions'] === true, eventType: typeof rule['event_type'] === 'string' ? rule['event_type'] : '*', query,
    state: 'insufficient data', stateReason: 'Not evaluated yet', timestamp: now, stateTimestamp: now, evaluateTimestamp: isoMicros(cloud.now()),
  };
  s.alarms.set(alarm.id, alarm);
  const detail = {
    alarm_id: alarm.id, type: alarm.type, enabled: alarm.enabled, name: alarm.name, description: alarm.description,
    timestamp: alarm.timestamp, user_id: alarm.userId, project_id: alarm.projectId, state: alarm.state,
    state_timestamp: alarm.stateTimestamp, state_reason: alarm.stateReason, ok_actions: alarm.okActions,
    alarm_actions: alarm.alarmActions, insufficient_data_actions: alarm.insufficientDataActions,
    repeat_actions: alarm.repeatActions, time_constraints: [], severity: alarm.severity,
    rule: { event_type: alarm.eventType, query: alarm.query.map((q) => ({ field: q.field, op: q.op, type: q.type, value: q.value })) },
  };
  s.alarmHistory.set(alarm.id, [{
    eventId: uuid(), alarmId: alarm.id, type: 'creation', detail: pyJsonDumps(detail),
    projectId: alarm.projectId, userId: alarm.userId, onBehalfOf: alarm.projectId, timestamp: alarm.timestamp,
  }]);
  res.status(201).setHeader('Location', `${cloud.baseUrl}/alarming/v2/alarms/${alarm.id}`);
  res.json(view(alarm, true));
}

import type { Session } from './session.js';
import { enc } from './identity.js';

export interface AlarmQuery {
  field: string;
  op: string;
  value: string;
  type?: string;
}

export interface EventAlarmInput {
  name: string;
  description?: string;
  severity?: 'low' | 'moderate' | 'critical';
  alarmActions: string[];
  repeatActions?: boolean;
  eventType: string;
  query: AlarmQuery[];
  /** Admin only: create on behalf of this project. */
  projectId?: string;
}

export interface Alarm {
  id: string;
  name: string;
  type: string;
  state: string;
  enabled: boolean;
  projectId: string;
  userId: string;
  alarmActions: string[];
  stateReason: string;
}

export interface AlarmHistoryEntry {
  eventId: string;
  type: string;
  detail: string;
  timestamp: string;
}

interface WireAlarm {
  alarm_id: string;
  name: string;
  type: string;
  state: string;
  enabled: boolean;
  project_id: string;
  user_id: string;
  alarm_actions: string[];
  state_reason: string;
}

const alarm = (w: WireAlarm): Alarm => ({
  id: w.alarm_id, name: w.name, type: w.type, state: w.state, enabled: w.enabled,
  projectId: w.project_id, userId: w.user_id, alarmActions: w.alarm_actions, stateReason: w.state_reason,
});

/** The Doctor event alarm body (DESIGN.md §4): one per VM. */
export function doctorAlarmBody(input: { name: string; vmId: string; consumerUrl: string; projectId?: string }): EventAlarmInput {
  return {
    name: input.name,
    description: 'VM failure',
    severity: 'moderate',
    repeatActions: false,
    alarmActions: [input.consumerUrl],
    eventType: 'compute.instance.update',
    query: [
      { field: 'traits.instance_id', type: '', op: 'eq', value: input.vmId },
      { field: 'traits.state', type: '', op: 'eq', value: 'error' },
    ],
    ...(input.projectId ? { projectId: input.projectId } : {}),
  };
}

/** Aodh v2. */
export class AlarmingClient {
  constructor(private readonly s: Session) {}

  async createEventAlarm(input: EventAlarmInput): Promise<Alarm> {
    const body: Record<string, unknown> = {
      name: input.name,
      description: input.description ?? '',
      enabled: true,
      type: 'event',
      severity: input.severity ?? 'moderate',
      alarm_actions: input.alarmActions,
      repeat_actions: input.repeatActions ?? false,
      event_rule: { event_type: input.eventType, query: input.query.map((q) => ({ type: '', ...q })) },
    };
    if (input.projectId) body['project_id'] = input.projectId;
    const r = await this.s.request<WireAlarm>({ service: 'alarming', method: 'POST', path: '/v2/alarms', body });
    return alarm(r.data);
  }

  async get(id: string): Promise<Alarm> {
    return alarm((await this.s.request<WireAlarm>({ service: 'alarming', method: 'GET', path: `/v2/alarms/${enc(id)}` })).data);
  }

  /**
   * Alarms of the token's project (Aodh lists no other unless asked): `projectId`
   * lists another project's (admin only), `allProjects` every project's (admin only).
   */
  async list(filter: { name?: string; projectId?: string; allProjects?: boolean } = {}): Promise<Alarm[]> {
    // Aodh takes one q.field/q.op/q.value triple per condition, and each field once.
    const conditions: Array<[string, string]> = [];
    if (filter.name) conditions.push(['name', filter.name]);
    if (filter.projectId) conditions.push(['project_id', filter.projectId]);
    if (filter.allProjects) conditions.push(['all_projects', 'true']);
    const query = conditions.length
      ? { 'q.field': conditions.map(([f]) => f), 'q.op': conditions.map(() => 'eq'), 'q.value': conditions.map(([, v]) => v) }
      : undefined;
    const r = await this.s.request<WireAlarm[]>({ service: 'alarming', method: 'GET', path: '/v2/alarms', ...(query ? { query } : {}) });
    return r.data.map(alarm);
  }

  /** Sets an alarm's state by hand (Aodh records a state transition, "Manually set via API"); answers the state. */
  async setState(id: string, state: 'ok' | 'alarm' | 'insufficient data'): Promise<string> {
    return (await this.s.request<string>({ service: 'alarming', method: 'PUT', path: `/v2/alarms/${enc(id)}/state`, body: state })).data;
  }

  async state(id: string): Promise<string> {
    return (await this.s.request<string>({ service: 'alarming', method: 'GET', path: `/v2/alarms/${enc(id)}/state` })).data;
  }

  async delete(id: string): Promise<void> {
    await this.s.request({ service: 'alarming', method: 'DELETE', path: `/v2/alarms/${enc(id)}` });
  }

  async history(id: string): Promise<AlarmHistoryEntry[]> {
    const r = await this.s.request<Array<{ event_id: string; type: string; detail: string; timestamp: string }>>({
      service: 'alarming', method: 'GET', path: `/v2/alarms/${enc(id)}/history`,
    });
    return r.data.map((h) => ({ eventId: h.event_id, type: h.type, detail: h.detail, timestamp: h.timestamp }));
  }
}

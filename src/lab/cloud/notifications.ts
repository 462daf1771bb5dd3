import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { httpExchange } from '../../openstack/index.js';
import type { Cloud } from './cloud.js';
import { isoMicros, pyJsonDumps, requestId, uuid } from './format.js';
import type { AlarmRec, ServerRec } from './state.js';

/**
 * The Nova → Ceilometer → Aodh → webhook chain. A VM state change becomes a
 * legacy `compute.instance.update` notification, Ceilometer turns it into an
 * event with typed traits, Aodh's event evaluator matches it against the
 * project's enabled event alarms and its REST notifier POSTs each action URL.
 * Each hop waits its configured latency and leaves a trace point.
 */

/** Ceilometer trait types (ceilometer/event/models.py). */
export const TRAIT_TEXT = 1;
export const TRAIT_INT = 2;
export const TRAIT_FLOAT = 3;
export const TRAIT_DATETIME = 4;

export type Trait = [name: string, dtype: number, value: string | number];

export interface CloudEvent {
  message_id: string;
  event_type: string;
  generated: string;
  traits: Trait[];
  raw: Record<string, never>;
  message_signature: string;
}

const firing = new WeakMap<Cloud, Set<string>>();

export function instanceUpdated(cloud: Cloud, server: ServerRec, oldState: string, publisherHost: string): void {
  const state = server.vmState;
  cloud.record({ hop: 'state_change', instanceId: server.id, state });
  const traits = instanceTraits(cloud, server, oldState, publisherHost);
  const { latency } = cloud;
  cloud.later(latency.notify, () => {
    cloud.record({ hop: 'notification', instanceId: server.id, state });
    cloud.later(latency.transform, () => {
      const id = uuid();
      const event: CloudEvent = {
        message_id: id,
        event_type: 'compute.instance.update',
        generated: isoMicros(cloud.now()),
        traits,
        raw: {},
        message_signature: createHash('sha256').update(`${id}:${pyJsonDumps(traits)}`).digest('hex'),
      };
      cloud.record({ hop: 'event', eventId: id, instanceId: server.id, state });
      cloud.later(latency.evaluate, () => evaluateEvent(cloud, event));
    });
  });
}

function instanceTraits(cloud: Cloud, s: ServerRec, oldState: string, host: string): Trait[] {
  const flavor = cloud.state.flavors.get(s.flavorId);
  const traits: Trait[] = [
    ['service', TRAIT_TEXT, 'compute'],
    ['request_id', TRAIT_TEXT, requestId()],
    ['project_id', TRAIT_TEXT, s.projectId],
    ['user_id', TRAIT_TEXT, s.userId],
    ['tenant_id', TRAIT_TEXT, s.projectId],
    ['instance_id', TRAIT_TEXT, s.id],
    ['display_name', TRAIT_TEXT, s.name],
    ['resource_id', TRAIT_TEXT, s.id],
    ['cell_name', TRAIT_TEXT, ''],
    ['host', TRAIT_TEXT, host],
    ['memory_mb', TRAIT_INT, flavor?.ram ?? 0],
    ['disk_gb', TRAIT_INT, (flavor?.disk ?? 0) + (flavor?.ephemeral ?? 0)],
    ['root_gb', TRAIT_INT, flavor?.disk ?? 0],
    ['ephemeral_gb', TRAIT_INT, flavor?.ephemeral ?? 0],
    ['vcpus', TRAIT_INT, flavor?.vcpus ?? 0],
    ['instance_type_id', TRAIT_TEXT, String(flavor?.seq ?? '')],
    ['instance_type', TRAIT_TEXT, flavor?.name ?? ''],
    ['state', TRAIT_TEXT, s.vmState],
  ];
  if (s.launchedAt !== undefined) traits.push(['launched_at', TRAIT_DATETIME, isoMicros(s.launchedAt).slice(0, 19)]);
  traits.push(['old_state', TRAIT_TEXT, oldState]);
  return traits;
}

function evaluateEvent(cloud: Cloud, event: CloudEvent): void {
  const project = traitValue(event, 'project_id') ?? traitValue(event, 'tenant_id');
  const pending = firing.get(cloud) ?? new Set<string>();
  firing.set(cloud, pending);
  const instanceId = traitValue(event, 'instance_id') as string | undefined;
  for (const alarm of cloud.state.alarms.values()) {
    if (!alarm.enabled || alarm.type !== 'event' || alarm.projectId !== project) continue;
    if (!globMatch(alarm.eventType, event.event_type) || !queryMatches(alarm, event)) continue;
    if (!alarm.repeatActions && (alarm.state === 'alarm' || pending.has(alarm.id))) continue;
    pending.add(alarm.id);
    cloud.record({ hop: 'alarm_evaluated', alarmId: alarm.id, eventId: event.message_id, ...(instanceId ? { instanceId } : {}) });
    cloud.later(cloud.latency.fire, () => fire(cloud, alarm, event, pending));
  }
}

function fire(cloud: Cloud, alarm: AlarmRec, event: CloudEvent, pending: Set<string>): void {
  pending.delete(alarm.id);
  if (!cloud.state.alarms.has(alarm.id)) return; // deleted meanwhile
  const previous = alarm.state;
  const query = alarm.query.map((q) => ({ field: q.field, op: q.op, type: q.type, value: q.value }));
  const reason = `Event <id=${event.message_id},event_type=${event.event_type}> hits the query <query=${pyJsonDumps(query, true)}>.`;
  alarm.state = 'alarm';
  alarm.stateReason = reason;
  // Aodh's event evaluator never refreshes state_timestamp (observed on Zed).
  const history = cloud.state.alarmHistory.get(alarm.id) ?? [];
  history.push({
    eventId: uuid(),
    alarmId: alarm.id,
    type: 'state transition',
    detail: pyJsonDumps({ state: 'alarm', transition_reason: reason }),
    projectId: null,
    userId: null,
    onBehalfOf: alarm.projectId,
    timestamp: isoMicros(cloud.now()),
  });
  cloud.state.alarmHistory.set(alarm.id, history);
  const instanceId = traitValue(event, 'instance_id') as string | undefined;
  cloud.record({ hop: 'alarm_fired', alarmId: alarm.id, eventId: event.message_id, ...(instanceId ? { instanceId } : {}) });
  const payload = {
    alarm_name: alarm.name,
    alarm_id: alarm.id,
    severity: alarm.severity,
    previous,
    current: 'alarm',
    reason,
    reason_data: { type: 'event', event },
  };
  for (const url of alarm.alarmActions) {
    cloud.later(cloud.latency.deliver, () => void deliver(cloud, alarm, url, payload, instanceId));
  }
}

async function deliver(cloud: Cloud, alarm: AlarmRec, url: string, payload: unknown, instanceId?: string): Promise<void> {
  const base = { alarmId: alarm.id, url, ...(instanceId ? { instanceId } : {}) };
  if (cloud.faults.takeWebhookDrop()) {
    cloud.record({ hop: 'webhook_dropped', ...base });
    return;
  }
  const refusal = webhookRefusal(url, cloud.allowRemoteWebhooks);
  if (refusal) {
    cloud.record({ hop: 'webhook_refused', ...base, detail: refusal });
    cloud.log.warn({ url, alarmId: alarm.id }, refusal);
    return;
  }
  try {
    const { status } = await httpExchange({
      url, method: 'POST', body: JSON.stringify(payload), timeoutMs: 10_000, agents: WEBHOOK_AGENTS,
      headers: { 'content-type': 'application/json', 'x-openstack-request-id': requestId(), 'user-agent': 'doctor-harness-lab-cloud/aodh-notifier' },
    });
    cloud.record({ hop: 'webhook_delivered', ...base, status });
  } catch (err) {
    cloud.record({ hop: 'webhook_failed', ...base, detail: (err as Error).message });
  }
}

// One keep-alive connection pool for the notifier's webhooks (fetch's per-request cost, its web
// streams and abort timer, slowed the notifier when 50 alarms fired at once).
const WEBHOOK_AGENTS = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** Only loopback and lab (198.18.0.0/15) addresses, unless the cloud allows remote webhooks. */
export function webhookRefusal(url: string, allowRemote: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `alarm action ${url} is not a URL`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `alarm action scheme ${u.protocol} is not delivered by the lab cloud`;
  if (allowRemote) return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1') return undefined;
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number);
    if (a === 127 || (a === 198 && (b === 18 || b === 19))) return undefined;
  }
  return `alarm action ${url} is not on this machine; the lab cloud only delivers to loopback or lab addresses (start it with allowRemoteWebhooks to change that)`;
}

function traitValue(event: CloudEvent, name: string): string | number | undefined {
  return event.traits.find((t) => t[0] === name)?.[2];
}

function queryMatches(alarm: AlarmRec, event: CloudEvent): boolean {
  return alarm.query.every((q) => {
    let actual: string | number | undefined;
    let dtype = TRAIT_TEXT;
    if (q.field.startsWith('traits.')) {
      const t = event.traits.find((tr) => tr[0] === q.field.slice('traits.'.length));
      if (!t) return false;
      actual = t[2];
      dtype = t[1];
    } else if (q.field === 'event_type') actual = event.event_type;
    else if (q.field === 'message_id') actual = event.message_id;
    else return false;
    const expected: string | number = dtype === TRAIT_INT || dtype === TRAIT_FLOAT ? Number(q.value) : q.value;
    switch (q.op) {
      case 'eq':
        return actual === expected;
      case 'ne':
        return actual !== expected;
      case 'lt':
        return actual < expected;
      case 'le':
        return actual <= expected;
      case 'gt':
        return actual > expected;
      case 'ge':
        return actual >= expected;
      default:
        return false;
    }
  });
}

/** fnmatch-style: `*` and `?`. Each pattern is compiled once (every event meets every alarm's). */
export function globMatch(pattern: string, value: string): boolean {
  let re = GLOBS.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    if (GLOBS.size > 1_000) GLOBS.clear();
    GLOBS.set(pattern, re);
  }
  return re.test(value);
}
const GLOBS = new Map<string, RegExp>();

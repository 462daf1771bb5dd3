import { z } from 'zod';
import { type Clock, type Logger, preciseNow, silentLogger } from '../shared/index.js';

/** Aodh's event-alarm webhook body (aodh/notifier/rest.py, evaluator/event.py). */
const trait = z.tuple([z.string(), z.number().int(), z.unknown()]);
export const alarmNotificationSchema = z.looseObject({
  alarm_name: z.string(),
  alarm_id: z.string().min(1),
  severity: z.string().optional(),
  previous: z.string(),
  current: z.string(),
  reason: z.string().optional(),
  reason_data: z.looseObject({
    type: z.string(),
    event: z
      .looseObject({
        message_id: z.string().optional(),
        event_type: z.string(),
        generated: z.string().optional(),
        traits: z.array(trait),
      })
      .optional(),
  }),
});

export type AlarmNotification = z.infer<typeof alarmNotificationSchema>;

export interface ReceivedAlarm {
  alarmId: string;
  alarmName: string;
  /** The VM the alarm is about (the instance_id trait), when the event names one. */
  instanceId?: string;
  state?: string;
  previous: string;
  current: string;
  /** 9: first arrival at the consumer (one clock with the monitor's detection). */
  firstAt: number;
  /** 10: handled (recorded). */
  handledAt: number;
  /** Aodh may POST the same alarm several times: count them, never double-count. */
  count: number;
  requestId?: string;
}

/**
 * Records Aodh alarm notifications: one entry per alarm id with its first
 * arrival instant; later POSTs of the same alarm only raise its count.
 */
export class Consumer {
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly alarms = new Map<string, ReceivedAlarm>();
  private readonly waiters = new Set<() => void>();

  constructor(opts: { now?: Clock; logger?: Logger } = {}) {
    this.now = opts.now ?? preciseNow;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'consumer' });
  }

  record(n: AlarmNotification, arrivedAt: number, requestId?: string): ReceivedAlarm {
    const existing = this.alarms.get(n.alarm_id);
    if (existing) {
      existing.count += 1;
      this.log.info({ alarmId: n.alarm_id, count: existing.count }, 'duplicate alarm notification');
      return existing;
    }
    const traits = new Map((n.reason_data.event?.traits ?? []).map(([name, , value]) => [name, value]));
    const instanceId = traits.get('instance_id');
    const state = traits.get('state');
    const rec: ReceivedAlarm = {
      alarmId: n.alarm_id,
      alarmName: n.alarm_name,
      previous: n.previous,
      current: n.current,
      firstAt: arrivedAt,
      handledAt: this.now(),
      count: 1,
      ...(typeof instanceId === 'string' ? { instanceId } : {}),
      ...(typeof state === 'string' ? { state } : {}),
      ...(requestId ? { requestId } : {}),
    };
    this.alarms.set(n.alarm_id, rec);
    this.log.info({ alarmId: rec.alarmId, alarmName: rec.alarmName, instanceId: rec.instanceId }, 'alarm received');
    for (const w of this.waiters) w();
    return rec;
  }

  received(): ReceivedAlarm[] {
    return [...this.alarms.values()];
  }

  /** Resolves once every alarm id in `ids` has arrived; rejects at the deadline or on abort, naming what is missing. */
  waitFor(ids: string[], timeoutMs: number, signal?: AbortSignal): Promise<ReceivedAlarm[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ids.every((id) => this.alarms.has(id))) {
          finish();
          resolve(ids.map((id) => this.alarms.get(id)!));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        finish();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const timer = setTimeout(() => {
        finish();
        const missing = ids.filter((id) => !this.alarms.has(id));
        reject(new Error(`${missing.length} of ${ids.length} alarm(s) never reached the consumer within ${timeoutMs} ms: ${missing.join(', ')}`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(check);
      check();
    });
  }
}

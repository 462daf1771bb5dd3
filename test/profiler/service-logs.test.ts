/** Checkpoint 7 from Aodh's listener log (oslo.log lines, the node's local time, milliseconds truncated). */
import { describe, expect, it } from 'vitest';
import { notifiedFromNovaApiLog, publishedFromCeilometerLog, triggeredFromAodhLog } from '../../src/profiler/index.js';

const A = '3f108e20-e706-4d64-905c-2ea614886f9f';
const B = '9a1c2b3d-0000-4000-8000-123456789abc';
const LOG = [
  `2026-12-02 03:41:52.100 21702 DEBUG aodh.evaluator.event [-] Evaluating alarm (id=${A}) triggered by event (message_id=1).`,
  `2026-12-02 03:41:52.411 21702 INFO aodh.evaluator.event [-] Triggering the alarm ${A} by event for project 0c5e, event_type: compute.instance.update`,
  `2026-12-02 04:41:52.900 21702 INFO aodh.evaluator.event [req-1 - - - - -] Triggering the alarm ${B} by event for project 0c5e, event_type: compute.instance.update`,
  `2026-12-02 04:41:53.000 21702 INFO aodh.evaluator.event [-] Triggering the alarm ${B} by event for project 0c5e, event_type: compute.instance.update`,
  '2026-12-02 04:41:53.100 21702 INFO aodh.evaluator.event [-] Aborting evaluation of the alarm x due to unmet condition',
].join('\n');

describe("Aodh's listener log", () => {
  it('gives the first trigger of each alarm on our clock, in the node\'s time zone, half a millisecond after the truncated stamp', () => {
    const utc = triggeredFromAodhLog(LOG, '+0000', { name: 'this machine', offsetMs: 0, uncertaintyMs: 0 });
    expect(utc.get(A)).toEqual({ at: Date.parse('2026-12-02T03:41:52.411Z') + 0.5, source: 'aodh-listener log (Triggering the alarm)', clock: 'this machine', uncertaintyMs: 0.5 });
    expect(utc.get(B)!.at).toBe(Date.parse('2026-12-02T04:41:52.900Z') + 0.5);
    expect(utc.size).toBe(2);
    // A controller an hour ahead, whose clock runs 20 ms ahead of ours.
    const cet = triggeredFromAodhLog(LOG, '+0100', { name: 'ctl01', offsetMs: 20, uncertaintyMs: 1.5 });
    expect(cet.get(A)).toMatchObject({ at: Date.parse('2026-12-02T02:41:52.411Z') + 0.5 - 20, clock: 'ctl01', uncertaintyMs: 2 });
    // Clock unknown: no uncertainty claimed.
    expect(triggeredFromAodhLog(LOG, '+0000', { name: 'the cloud' }).get(A)!.uncertaintyMs).toBeUndefined();
  });
});

const VM1 = '11111111-1111-4111-8111-111111111111';
const VM2 = '22222222-2222-4222-8222-222222222222';
const CTX = (req: string, global = 'None') => `[${global} ${req} db16 c9a0 - - default default]`;
const REQ1 = 'req-5de41856-83e7-4117-b415-9cf3233ab36c';
const REQ2 = 'req-7a0c1f00-0000-4000-8000-00000000beef';
const REQ3 = 'req-99999999-0000-4000-8000-000000000000';
/** nova-api's lines as uwsgi's workers (two PIDs) write them, the DEBUG CAST before the request's access line. */
const NOVA = [
  `2026-12-02 09:12:22.700 14823 DEBUG oslo_messaging._drivers.amqpdriver ${CTX(REQ3)} CAST unique_id: 00000000000000000000000000000003 NOTIFY exchange 'nova' topic 'notifications.info' _send /usr/lib/python3/dist-packages/oslo_messaging/_drivers/amqpdriver.py:656`,
  `2026-12-02 09:12:22.755 14823 DEBUG oslo_messaging._drivers.amqpdriver ${CTX(REQ1)} CAST unique_id: eec4880965f94ba9ba322a75f9b0da1c NOTIFY exchange 'nova' topic 'versioned_notifications.info' _send x`,
  `2026-12-02 09:12:22.757 14823 DEBUG oslo_messaging._drivers.amqpdriver ${CTX(REQ1)} CAST unique_id: aaaa0000000000000000000000000001 NOTIFY exchange 'nova' topic 'notifications.info' _send x`,
  `2026-12-02 09:12:22.780 14822 DEBUG oslo_messaging._drivers.amqpdriver ${CTX(REQ2, 'req-global-reused-by-the-caller')} CAST unique_id: bbbb0000000000000000000000000002 NOTIFY exchange 'nova' topic 'notifications.info' _send x`,
  `2026-12-02 09:12:22.790 14823 INFO nova.api.openstack.requestlog ${CTX(REQ1)} 198.18.0.253 "POST /v2.1/servers/${VM1}/action" status: 202 len: 0 microversion: 2.53 time: 0.076501`,
  `2026-12-02 09:12:22.801 14822 INFO nova.api.openstack.requestlog ${CTX(REQ2, 'req-global-reused-by-the-caller')} 198.18.0.253 "POST /compute/v2.1/servers/${VM2}/action" status: 202 len: 0 microversion: 2.53 time: 0.05`,
  // Another VM's reset (not ours) and a GET of ours: neither is a checkpoint.
  `2026-12-02 09:12:22.810 14823 INFO nova.api.openstack.requestlog ${CTX(REQ3)} 198.18.0.253 "POST /v2.1/servers/33333333-3333-4333-8333-333333333333/action" status: 202 len: 0`,
  `2026-12-02 09:12:22.811 14823 INFO nova.api.openstack.requestlog ${CTX('req-00000000-0000-4000-8000-000000000001')} 198.18.0.253 "GET /v2.1/servers/${VM1}" status: 200 len: 1800`,
].join('\n');

describe("nova-api's log (checkpoint 5)", () => {
  it('gives each VM the notification its reset request sent (matched by request id, the versioned copy skipped), with its unique id', () => {
    const got = notifiedFromNovaApiLog(NOVA, '+0000', { name: 'this machine', offsetMs: 0, uncertaintyMs: 0 }, new Set([VM1, VM2]));
    expect(got.get(VM1)).toEqual({
      uniqueId: 'aaaa0000000000000000000000000001',
      instant: { at: Date.parse('2026-12-02T09:12:22.757Z') + 0.5, source: 'nova-api log (CAST … NOTIFY, oslo.messaging at DEBUG)', clock: 'this machine', uncertaintyMs: 0.5 },
    });
    expect(got.get(VM2)!.uniqueId).toBe('bbbb0000000000000000000000000002'); // the request's own id, not the caller's global one
    expect(got.size).toBe(2);
  });
});

/** The notification agent: received (poll thread) then published (worker), twice at once in the middle. */
const CEILO = [
  ['09:12:22.759', 'received message with unique_id: aaaa0000000000000000000000000001'],
  ['09:12:22.760', "CAST unique_id: e40f98b92206433cb50c38ee33b8c4f1 NOTIFY exchange 'ceilometer' topic 'event.sample'"],
  ['09:12:22.762', "CAST unique_id: 1678058f30c84fca87b11076344700f9 NOTIFY exchange 'ceilometer' topic 'alarm.all.sample'"],
  ['09:12:22.780', 'Listener is running poll'],
  ['09:12:22.786', 'received message with unique_id: bbbb0000000000000000000000000002'],
  ['09:12:22.787', 'received message with unique_id: cccc0000000000000000000000000003'],
  ['09:12:22.790', "CAST unique_id: 102cf7b8c2a3485d8448b9f15c45d9ca NOTIFY exchange 'ceilometer' topic 'alarm.all.sample'"],
  ['09:12:22.794', "CAST unique_id: 2b2d3c1c1bf044a2b5d85b8b2aa04a49 NOTIFY exchange 'ceilometer' topic 'alarm.all.sample'"],
].map(([t, m]) => `2026-12-02 ${t} 17468 DEBUG oslo_messaging._drivers.amqpdriver [-] ${m} __call__ x`).join('\n');

describe("the notification agent's log (checkpoint 6)", () => {
  const U1 = 'aaaa0000000000000000000000000001';
  const U2 = 'bbbb0000000000000000000000000002';
  const sent = new Set([U1, U2]); // the third message is nobody's we sent
  it("matches the publishes on Aodh's topic to the messages in order; where two were in the agent at once, the uncertainty spans both publishes", () => {
    const got = publishedFromCeilometerLog(CEILO, '+0000', { name: 'this machine', offsetMs: 0, uncertaintyMs: 0 }, sent, 'alarm.all.');
    expect(got.get(U1)).toMatchObject({ at: Date.parse('2026-12-02T09:12:22.762Z') + 0.5, clock: 'this machine', uncertaintyMs: 0.5 });
    expect(got.get(U1)!.source).toMatch(/^ceilometer notification agent log/);
    expect(got.get(U2)).toMatchObject({ at: Date.parse('2026-12-02T09:12:22.790Z') + 0.5, uncertaintyMs: 4.5 });
    expect(got.size).toBe(2);
  });
  it('gives up a message never published (dropped) instead of shifting every later match', () => {
    const dropped = `2026-12-02 09:12:20.000 17468 DEBUG oslo_messaging._drivers.amqpdriver [-] received message with unique_id: dddd0000000000000000000000000004 __call__ x\n${CEILO}`;
    const got = publishedFromCeilometerLog(dropped, '+0000', { name: 'ctl01', offsetMs: 3, uncertaintyMs: 1 }, sent, 'alarm.all.');
    expect(got.get(U1)).toMatchObject({ at: Date.parse('2026-12-02T09:12:22.762Z') + 0.5 - 3, clock: 'ctl01', uncertaintyMs: 1.5 });
  });
});

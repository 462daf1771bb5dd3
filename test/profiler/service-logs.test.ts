/** Checkpoint 7 from Aodh's listener log (oslo.log lines, the node's local time, milliseconds truncated). */
import { describe, expect, it } from 'vitest';
import { triggeredFromAodhLog } from '../../src/profiler/index.js';

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

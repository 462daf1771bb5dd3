import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Consumer, createConsumerApp } from '../../src/consumer/index.js';
import { json } from '../helpers/http.js';
import { listen, preciseNow, within, type Listening } from '../../src/shared/index.js';
import { connect } from 'node:net';

const recorded = JSON.parse(readFileSync(new URL('../fixtures/openstack-zed/49-aodh-webhook-post.json', import.meta.url), 'utf8')).request;

describe('the consumer webhook', () => {
  let consumer: Consumer;
  let svc: Listening;
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${svc.url}/failure`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  beforeEach(async () => {
    consumer = new Consumer();
    svc = await listen(createConsumerApp(consumer, preciseNow));
  });
  afterEach(async () => svc.close());

  it('records the alarm Aodh really sent, with its VM and first arrival, once', async () => {
    const before = preciseNow();
    const res = await post(recorded.body, { 'x-openstack-request-id': recorded.headers['x-openstack-request-id'] });
    expect(res.status).toBe(200);
    const [a] = consumer.received();
    expect(a).toMatchObject({
      alarmId: recorded.body.alarm_id, alarmName: 'doctor_alarm0', instanceId: '186f9102-d495-4d72-a19e-eb64af4c0b9e',
      state: 'error', previous: 'insufficient data', current: 'alarm', count: 1, requestId: recorded.headers['x-openstack-request-id'],
    });
    expect(a!.firstAt).toBeGreaterThanOrEqual(before);
    expect(a!.handledAt).toBeGreaterThanOrEqual(a!.firstAt);
    // Aodh can POST the same alarm again: counted, not a second notification.
    await post(recorded.body);
    expect(consumer.received()).toHaveLength(1);
    expect(consumer.received()[0]!.count).toBe(2);
    expect(consumer.received()[0]!.firstAt).toBe(a!.firstAt);
    const listed = await json(await fetch(`${svc.url}/notifications`));
    expect(listed).toHaveLength(1);
  });

  it('answers 400 naming the field for malformed payloads, and keeps serving', async () => {
    const { alarm_id: _drop, ...noId } = recorded.body;
    const badTraits = structuredClone(recorded.body);
    badTraits.reason_data.event.traits[0] = { name: 'service', value: 'compute' };
    const cases: Array<[unknown, string]> = [
      [noId, 'alarm_id'],
      [badTraits, 'reason_data.event.traits[0]'],
      [{ ...recorded.body, previous: 3 }, 'previous'],
      ['{"alarm_id": ', 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const j = await json(res);
      expect(j.field).toBe(field);
      expect(j.error.startsWith(`${field}: `)).toBe(true);
    }
    expect(consumer.received()).toEqual([]);
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  });

  it('waits for a set of alarms, and names the missing ones at the deadline', async () => {
    const waiting = consumer.waitFor([recorded.body.alarm_id], 5_000);
    await post(recorded.body);
    expect((await waiting).map((a) => a.alarmName)).toEqual(['doctor_alarm0']);
    await expect(consumer.waitFor([recorded.body.alarm_id, 'never-1'], 50)).rejects.toThrow(/1 of 2 alarm\(s\) never reached the consumer within 50 ms: never-1/);
    const ac = new AbortController();
    const aborted = consumer.waitFor(['never-2'], 5_000, ac.signal);
    ac.abort(new Error('interrupted'));
    await expect(aborted).rejects.toThrow('interrupted');
    // Already aborted before the wait starts: rejects at once, not at the deadline.
    await expect(consumer.waitFor(['never-3'], 60_000, ac.signal)).rejects.toThrow('interrupted');
  });

  it('stamps an alarm when its first bytes arrive, before the rest of the request is read or parsed', async () => {
    // A clock that counts: each reading is a new instant, and the test knows which one the stamp took.
    let ticks = 0;
    let firstReading: (() => void) | undefined;
    const read = new Promise<void>((r) => (firstReading = r));
    const clock = () => {
      ticks += 1;
      firstReading?.();
      return ticks;
    };
    const c = new Consumer({ now: clock });
    const s = await listen(createConsumerApp(c, clock), { clock });
    try {
      const body = JSON.stringify(recorded.body);
      const socket = connect(s.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((r) => socket.once('connect', () => r()));
      const answered = new Promise<string>((r) => {
        let text = '';
        socket.on('data', (d) => {
          text += d;
          if (text.includes('\r\n\r\n') && text.includes('}')) r(text);
        });
      });
      // The request line and part of the headers only: the arrival is stamped already...
      socket.write('POST /failure HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      await within(read, 5_000, 'the arrival stamp, taken before the headers were complete');
      const stamp = ticks;
      // ...the rest comes later.
      socket.write(`Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      expect(await answered).toMatch(/^HTTP\/1\.1 200/);
      const [a] = c.received();
      expect(a!.firstAt).toBe(stamp);
      expect(a!.handledAt).toBeGreaterThan(stamp);
      // The same connection carries the next request (keep-alive) as before.
      const again = new Promise<string>((r) => {
        let text = '';
        socket.removeAllListeners('data');
        socket.on('data', (d) => {
          text += d;
          if (text.includes('}')) r(text);
        });
      });
      socket.write(`POST /failure HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      expect(await again).toMatch(/"count":2/);
      socket.destroy();
      expect(c.received()[0]!.count).toBe(2);
    } finally {
      await s.close();
    }
  });
});

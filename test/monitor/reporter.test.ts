import { afterEach, describe, expect, it } from 'vitest';
import { batchedReports, endpointFor, InspectorReporter } from '../../src/monitor/index.js';
import { recordingServer, type RecordingServer } from '../helpers/http.js';

describe('InspectorReporter', () => {
  let stub: RecordingServer | undefined;
  afterEach(async () => stub?.close());

  it('PUTs the Doctor sample inspector event list to /events', async () => {
    stub = await recordingServer([200]);
    const detectedAt = Date.parse('2026-11-21T06:00:00.123Z');
    const r = await new InspectorReporter({ url: stub.url }).report('compute-1', detectedAt);
    expect(r).toMatchObject({ ok: true, status: 200, attempts: 1 });
    expect(stub.received[0]!.method).toBe('PUT');
    expect(stub.received[0]!.url).toBe('/events');
    expect(stub.received[0]!.headers['content-type']).toBe('application/json');
    const body = stub.received[0]!.body as Array<Record<string, unknown>>;
    expect(body).toHaveLength(1);
    expect(Object.keys(body[0]!).sort()).toEqual(['details', 'time', 'type']);
    expect(body[0]).toMatchObject({ time: '2026-11-21T06:00:00.123Z', type: 'compute.host.down' });
    const details = body[0]!['details'] as Record<string, string>;
    expect(Object.keys(details).sort()).toEqual(['hostname', 'monitor', 'monitor_event_id', 'status']);
    expect(details).toMatchObject({ hostname: 'compute-1', status: 'down', monitor: 'doctor_harness_monitor' });
  });

  it('POSTs one Vitrage event object to /v1/event, with the bearer token', async () => {
    stub = await recordingServer([200]);
    await new InspectorReporter({ url: stub.url, shape: 'vitrage', token: 's3cret-token' }).report('compute-2', Date.now());
    expect(stub.received[0]).toMatchObject({ method: 'POST', url: '/v1/event' });
    expect(stub.received[0]!.headers['authorization']).toBe('Bearer s3cret-token');
    expect((stub.received[0]!.body as { details: { hostname: string } }).details.hostname).toBe('compute-2');
  });

  it('retries 5xx and gives up at once on 4xx', async () => {
    stub = await recordingServer([503, 502, 200]);
    const sleeps: number[] = [];
    const ok = await new InspectorReporter({ url: stub.url, sleep: async (ms) => void sleeps.push(ms) }).report('compute-1', Date.now());
    expect(ok).toMatchObject({ ok: true, attempts: 3 });
    expect(sleeps).toEqual([50, 100]);
    await stub.close();
    stub = await recordingServer([400, 200]);
    const bad = await new InspectorReporter({ url: stub.url, sleep: async () => {} }).report('compute-1', Date.now());
    expect(bad).toMatchObject({ ok: false, status: 400, attempts: 1 });
    expect(bad.error).toMatch(/PUT http:\/\/127\.0\.0\.1:\d+\/events answered 400/);
  });

  it('keeps a full endpoint URL as given', () => {
    expect(endpointFor('http://127.0.0.1:12345/events', 'doctor')).toEqual({ method: 'PUT', url: 'http://127.0.0.1:12345/events' });
    expect(endpointFor('http://127.0.0.1:8999/', 'vitrage')).toEqual({ method: 'POST', url: 'http://127.0.0.1:8999/v1/event' });
    expect(() => new InspectorReporter({ url: 'inspector:12345' })).toThrow();
  });

  it('batches host-downs that come together into one PUT /events (each caller gets its result); Vitrage gets one POST each', async () => {
    stub = await recordingServer([200]);
    const report = batchedReports(new InspectorReporter({ url: stub.url }), 20);
    const at = Date.now();
    const results = await Promise.all(['compute-1', 'compute-2', 'compute-3'].map((h, i) => report({ hostname: h, detectedAt: at + i, eventId: `e${i}`, details: { agents: ['a'] } })));
    expect(results.every((r) => r.ok && r.status === 200)).toBe(true);
    expect(stub.received).toHaveLength(1);
    const body = stub.received[0]!.body as Array<{ details: Record<string, unknown> }>;
    expect(body.map((e) => [e.details['hostname'], e.details['monitor_event_id'], e.details['agents']])).toEqual([['compute-1', 'e0', ['a']], ['compute-2', 'e1', ['a']], ['compute-3', 'e2', ['a']]]);
    // A later one is a request of its own.
    await report({ hostname: 'compute-4', detectedAt: Date.now() });
    expect(stub.received).toHaveLength(2);
    // Vitrage's API takes one event per request.
    const vitrage = batchedReports(new InspectorReporter({ url: stub.url, shape: 'vitrage' }), 20);
    await Promise.all([vitrage({ hostname: 'c5', detectedAt: Date.now() }), vitrage({ hostname: 'c6', detectedAt: Date.now() })]);
    expect(stub.received.slice(2).map((r) => [r.url, (r.body as { details: { hostname: string } }).details.hostname]).sort()).toEqual([['/v1/event', 'c5'], ['/v1/event', 'c6']]);
  });

  it('a batch the inspector refuses is a failure for every host in it, and the cap sends a full batch at once', async () => {
    stub = await recordingServer([400, 200]);
    const report = batchedReports(new InspectorReporter({ url: stub.url, deadlineMs: 100 }), 10_000, 2);
    const [a, b] = await Promise.all([report({ hostname: 'x1', detectedAt: Date.now() }), report({ hostname: 'x2', detectedAt: Date.now() })]);
    expect([a.ok, b.ok, a.status]).toEqual([false, false, 400]);
    expect(stub.received).toHaveLength(1); // sent at the cap, not after the 10 s window
  });
});

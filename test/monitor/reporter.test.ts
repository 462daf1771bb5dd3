import { afterEach, describe, expect, it } from 'vitest';
import { endpointFor, InspectorReporter } from '../../src/monitor/index.js';
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
});

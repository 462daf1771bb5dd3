/**
 * Replays every exchange a real OpenStack Zed answered (test/fixtures/openstack-zed,
 * a copy of the recording in shared/) against the simulated cloud, in order, and
 * requires the same status code, the same JSON shape (keys and value types; ids,
 * names and times may differ) and the same protocol headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { startCloud, type LabCloud } from '../../src/lab/index.js';
import { eventually } from '../helpers/lab.js';
import { recordingServer, type Received, type RecordingServer } from '../helpers/http.js';

interface Exchange {
  request: { method: string; path: string; headers: Record<string, string>; body: unknown };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

const DIR = new URL('../fixtures/openstack-zed/', import.meta.url);
const files = readdirSync(DIR).filter((f) => /^\d\d-.*\.json$/.test(f)).sort();
const load = (f: string) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as Exchange;

const PREFIX: Record<string, string> = { keystone: '/identity', nova: '/compute', glance: '/image', neutron: '/network', aodh: '/alarming' };
/** Made as the doctor user (member role); the README of the recording lists them. */
const AS_DOCTOR = new Set(['25', '26', '29', '30', '31', '32', '35', '50']);
const NO_TOKEN = new Set(['01', '02', '03', '04', '11', '12', '13', '19', '20', '34']);
/** Headers whose presence must match; for the first four the value must match too. */
const EXACT = ['content-type', 'openstack-api-version', 'x-openstack-nova-api-version', 'vary'];
const PRESENT = ['location', 'x-openstack-request-id', 'x-subject-token'];
/** Where the sim cannot match the recording, and why. */
const KNOWN_DIFFERENCES: Record<string, string> = {};

const ID = /^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function shapeDiff(expected: unknown, actual: unknown, path = '$'): string[] {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(expected) !== kind(actual)) return [`${path}: expected ${kind(expected)}, got ${kind(actual)} (${JSON.stringify(actual)?.slice(0, 80)})`];
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if ((expected.length === 0) !== (actual.length === 0)) return [`${path}: expected ${expected.length} items, got ${actual.length}`];
    return actual.flatMap((item, i) => shapeDiff(expected.length === actual.length ? expected[i] : expected[0], item, `${path}[${i}]`));
  }
  if (kind(expected) === 'object') {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const missing = Object.keys(e).filter((k) => !(k in a));
    const extra = Object.keys(a).filter((k) => !(k in e));
    const out = [...missing.map((k) => `${path}.${k}: missing`), ...extra.map((k) => `${path}.${k}: not in the real answer`)];
    for (const k of Object.keys(e)) if (k in a) out.push(...shapeDiff(e[k], a[k], `${path}.${k}`));
    return out;
  }
  return [];
}

/** Learns which sim id stands for which recorded id from two answers of the same shape. */
function learnIds(expected: unknown, actual: unknown, ids: Map<string, string>): void {
  if (typeof expected === 'string' && typeof actual === 'string') {
    if (ID.test(expected) && expected !== actual && !ids.has(expected)) ids.set(expected, actual);
    return;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    actual.forEach((a, i) => learnIds(expected[i], a, ids));
    return;
  }
  if (expected && actual && typeof expected === 'object' && typeof actual === 'object') {
    for (const [k, v] of Object.entries(expected)) learnIds(v, (actual as Record<string, unknown>)[k], ids);
  }
}

function substitute(text: string, subs: Map<string, string>): string {
  let out = text;
  for (const [from, to] of subs) out = out.split(from).join(to);
  return out;
}

describe('the simulated cloud answers like the recorded Zed cloud', () => {
  let lab: LabCloud;
  let hook: RecordingServer;
  let hookUrl: string;
  let webhooks: Received[] = [];
  const subs = new Map<string, string>();
  const tokens: Record<'admin' | 'doctor', string> = { admin: '', doctor: '' };
  const doctorPassword = 'doctor-replay-password';

  beforeAll(async () => {
    // The recording's cloud: computes compute-2 then compute-1 (the order Nova listed them, and
    // where the scheduler put the VM), and an ml2 without tenant network types.
    lab = await startCloud({
      hosts: [{ name: 'compute-2', ip: '127.0.0.1' }, { name: 'compute-1', ip: '127.0.0.1' }],
      tenantNetworks: false,
      buildDelayMs: 300,
    });
    hook = await recordingServer();
    webhooks = hook.received;
    hookUrl = `${hook.url}/failure`;
    subs.set('http://127.0.0.1:12346/failure', hookUrl);
  });
  afterAll(async () => {
    await lab?.stop();
    await hook?.close();
  });

  for (const file of files) {
    const nn = file.slice(0, 2);
    const service = file.split('-')[1]!;
    it(`${file}`, async () => {
      const x = load(file);
      if (service === 'aodh' && x.request.path === '/failure') {
        // 49: the webhook Aodh sent after 48's reset-state.
        const got = await eventually(() => webhooks[0], 5000, 'the Aodh webhook');
        expect(shapeDiff(x.request.body, got.body)).toEqual([]);
        expect(got.headers['content-type']).toBe('application/json');
        expect(got.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f-]{36}$/);
        expect((got.body as { previous: string }).previous).toBe('insufficient data');
        expect(webhooks).toHaveLength(1);
        return;
      }
      if (nn === '32') {
        // The recording polled until ACTIVE; so do we, before replaying the ACTIVE answer.
        await eventually(() => [...lab.cloud.state.servers.values()].every((s) => s.vmState === 'active') || undefined, 5000, 'ACTIVE');
      }
      const headers: Record<string, string> = { ...x.request.headers };
      if (!NO_TOKEN.has(nn)) headers['X-Auth-Token'] = nn === '59' ? 'not-a-valid-token' : AS_DOCTOR.has(nn) ? tokens.doctor : tokens.admin;
      let body: string | Buffer | undefined;
      if (typeof x.request.body === 'string' && x.request.body.startsWith('<')) {
        body = Buffer.alloc(Number(/^<(\d+) bytes/.exec(x.request.body)?.[1] ?? 0), 7);
      } else if (x.request.body !== null) {
        const password = nn === '04' ? 'wrong-password' : nn === '03' ? lab.cloud.adminPassword : doctorPassword;
        body = substitute(JSON.stringify(x.request.body).split('<password>').join(password), subs);
      }
      const res = await fetch(`${lab.url}${PREFIX[service]}${substitute(x.request.path, subs)}`, {
        method: x.request.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        redirect: 'manual',
      });
      const text = await res.text();
      const actual: unknown = text === '' ? null : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;

      const why = KNOWN_DIFFERENCES[file];
      expect(res.status, `${file}: ${text.slice(0, 200)}`).toBe(x.response.status);
      const recorded = Object.fromEntries(Object.entries(x.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
      for (const h of [...EXACT, ...PRESENT]) {
        expect(res.headers.has(h), `${file}: header ${h} ${h in recorded ? 'missing' : 'not sent by the real cloud'}`).toBe(h in recorded);
        if (EXACT.includes(h) && h in recorded) expect(res.headers.get(h)?.toLowerCase(), `${file}: header ${h}`).toBe(recorded[h]!.toLowerCase());
      }
      if (!why) expect(shapeDiff(x.response.body, actual), file).toEqual([]);

      learnIds(x.response.body, actual, subs);
      if (nn === '03') tokens.admin = res.headers.get('x-subject-token')!;
      if (nn === '11') tokens.doctor = res.headers.get('x-subject-token')!;
    });
  }

  it('answers the same compute.instance.update event traits as the recording', async () => {
    const recorded = JSON.parse(readFileSync(new URL('event-compute-instance-update.json', DIR), 'utf8')).event;
    const got = (webhooks[0]!.body as { reason_data: { event: { traits: unknown[] } } }).reason_data.event;
    expect(shapeDiff(recorded, got)).toEqual([]);
    const names = (t: unknown[]) => (t as Array<[string, number]>).map(([n, type]) => `${n}:${type}`);
    expect(names(got.traits)).toEqual(names(recorded.traits));
  });
});

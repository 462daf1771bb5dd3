/**
 * The recorded Doctor flow (test/fixtures/openstack-zed: 67 exchanges a real
 * Zed all-in-one answered, in order) replayed against any cloud: the simulated
 * one, or the real all-in-one lab. Requests are the recorded ones with the
 * cloud's own ids, tokens, passwords and compute host substituted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { eventually } from './lab.js';
import type { Received } from './http.js';

export interface Exchange {
  request: { method: string; path: string; headers: Record<string, string>; body: unknown };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

export type ServiceName = 'keystone' | 'nova' | 'glance' | 'neutron' | 'aodh';

export interface ReplayTarget {
  /** Root URL of each service (the recorded paths are relative to it). */
  roots: Record<ServiceName, string>;
  adminPassword: string;
  /** Where the cloud's alarms post (the recorded http://127.0.0.1:12346/failure is replaced by it). */
  hookUrl: string;
  /** What that endpoint received so far. */
  webhooks: Received[];
}

export interface Answer {
  file: string;
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: unknown;
}

const DIR = new URL('../fixtures/openstack-zed/', import.meta.url);
export const FIXTURES = readdirSync(DIR).filter((f) => /^\d\d-.*\.json$/.test(f)).sort();
export const loadFixture = (f: string) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as Exchange;
export const recordedEvent = () => JSON.parse(readFileSync(new URL('event-compute-instance-update.json', DIR), 'utf8')).event as { traits: unknown[] };
export const serviceOf = (file: string) => file.split('-')[1] as ServiceName;
/** The exchange in which the cloud posted to our webhook (not a request we make). */
export const isWebhook = (file: string) => serviceOf(file) === 'aodh' && loadFixture(file).request.path === '/failure';

/**
 * Made as the doctor user (member role); the README of the recording lists them, except 37: Aodh lists
 * the caller's project only, so the recorded answer (the doctor project's alarm) was a doctor's.
 */
const AS_DOCTOR = new Set(['25', '26', '29', '30', '31', '32', '35', '37', '50']);
const NO_TOKEN = new Set(['01', '02', '03', '04', '11', '12', '13', '19', '20', '34']);
/** Headers whose presence must match; for the first four the value must match too. */
export const EXACT_HEADERS = ['content-type', 'openstack-api-version', 'x-openstack-nova-api-version', 'vary'];
export const PRESENT_HEADERS = ['location', 'x-openstack-request-id', 'x-subject-token'];

const ID = /^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Where `actual` differs from `expected` in keys and value types (ids, names and times may differ). */
export function shapeDiff(expected: unknown, actual: unknown, path = '$'): string[] {
  if (kind(expected) !== kind(actual)) return [`${path}: expected ${kind(expected)}, got ${kind(actual)} (${JSON.stringify(actual)?.slice(0, 80)})`];
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if ((expected.length === 0) !== (actual.length === 0)) return [`${path}: expected ${expected.length} items, got ${actual.length}`];
    return actual.flatMap((item, i) => shapeDiff(expected.length === actual.length ? expected[i] : expected[0], item, `${path}[${i}]`));
  }
  if (kind(expected) === 'object') return objectDiff(expected, actual, path, shapeDiff);
  return [];
}

/** Where the key sets of two JSON bodies differ, at every depth (values and their types aside). */
export function keyDiff(expected: unknown, actual: unknown, path = '$'): string[] {
  const e = kind(expected);
  const a = kind(actual);
  if ((e === 'object' || a === 'object' || e === 'array' || a === 'array') && e !== a && e !== 'null' && a !== 'null') return [`${path}: ${e} here, ${a} there`];
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if ((expected.length === 0) !== (actual.length === 0)) return [`${path}: ${expected.length} items here, ${actual.length} there`];
    return actual.flatMap((item, i) => keyDiff(expected.length === actual.length ? expected[i] : expected[0], item, `${path}[${i}]`));
  }
  if (e === 'object' && a === 'object') return objectDiff(expected, actual, path, keyDiff);
  return [];
}

function objectDiff(expected: unknown, actual: unknown, path: string, inner: (e: unknown, a: unknown, p: string) => string[]): string[] {
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  const missing = Object.keys(e).filter((k) => !(k in a));
  const extra = Object.keys(a).filter((k) => !(k in e));
  const out = [...missing.map((k) => `${path}.${k}: missing`), ...extra.map((k) => `${path}.${k}: not in the reference`)];
  for (const k of Object.keys(e)) if (k in a) out.push(...inner(e[k], a[k], `${path}.${k}`));
  return out;
}

/** Header differences that matter to a client: the exact ones by value, the others by presence. */
export function headerDiff(reference: Record<string, string>, actual: Record<string, string>): string[] {
  const ref = Object.fromEntries(Object.entries(reference).map(([k, v]) => [k.toLowerCase(), v]));
  const out: string[] = [];
  for (const h of [...EXACT_HEADERS, ...PRESENT_HEADERS]) {
    if ((h in ref) !== (h in actual)) out.push(`header ${h}: ${h in ref ? 'missing' : 'not in the reference'}`);
    else if (EXACT_HEADERS.includes(h) && h in ref && ref[h]!.toLowerCase() !== actual[h]!.toLowerCase()) out.push(`header ${h}: "${actual[h]}", reference "${ref[h]}"`);
  }
  return out;
}

/** What names a list element (a host, a hypervisor, a server): lists are paired by it, not by position. */
function label(v: unknown): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const service = o['service'] as Record<string, unknown> | undefined;
  const l = o['hypervisor_hostname'] ?? o['host'] ?? service?.['host'] ?? o['name'];
  return typeof l === 'string' ? l : undefined;
}

/** Learns which id of this cloud stands for which recorded id from two answers of the same shape. */
function learnIds(expected: unknown, actual: unknown, ids: Map<string, string>): void {
  if (typeof expected === 'string' && typeof actual === 'string') {
    if (ID.test(expected) && expected !== actual && !ids.has(expected)) ids.set(expected, actual);
    return;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    expected.forEach((e, i) => {
      // Two hypervisors listed in the other order must not swap their ids (nor their services' ids).
      const name = label(e);
      const twin = name === undefined ? undefined : actual.find((a) => label(a) === substitute(name, ids));
      learnIds(e, twin ?? actual[i], ids);
    });
    return;
  }
  if (expected && actual && typeof expected === 'object' && typeof actual === 'object') {
    for (const [k, v] of Object.entries(expected)) learnIds(v, (actual as Record<string, unknown>)[k], ids);
  }
}

/** Replaces every key of `subs` at once (so two names can swap). */
function substitute(text: string, subs: Map<string, string>): string {
  if (!subs.size) return text;
  const keys = [...subs.keys()].sort((a, b) => b.length - a.length).map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return text.replace(new RegExp(keys.join('|'), 'g'), (m) => subs.get(m)!);
}

/**
 * A replay, one exchange at a time (tests make each a test case). The webhook
 * exchange answers with what the cloud posted to `hookUrl`.
 */
export class Replay {
  readonly answers = new Map<string, Answer>();
  private readonly subs = new Map<string, string>();
  private readonly tokens = { admin: '', doctor: '' };
  private readonly doctorPassword = 'doctor-replay-password';

  constructor(private readonly target: ReplayTarget) {
    this.subs.set('http://127.0.0.1:12346/failure', target.hookUrl);
  }

  async exchange(file: string): Promise<Answer> {
    const x = loadFixture(file);
    const nn = file.slice(0, 2);
    if (isWebhook(file)) {
      const got = await eventually(() => this.target.webhooks[0], 10_000, 'the Aodh webhook');
      const answer: Answer = { file, status: 200, headers: lower(got.headers as Record<string, string>), body: got.body };
      this.answers.set(file, answer);
      return answer;
    }
    const headers: Record<string, string> = { ...x.request.headers };
    if (!NO_TOKEN.has(nn)) headers['X-Auth-Token'] = nn === '59' ? 'not-a-valid-token' : AS_DOCTOR.has(nn) ? this.tokens.doctor : this.tokens.admin;
    let body: string | Buffer | undefined;
    if (typeof x.request.body === 'string' && x.request.body.startsWith('<')) {
      body = Buffer.alloc(Number(/^<(\d+) bytes/.exec(x.request.body)?.[1] ?? 0), 7);
    } else if (x.request.body !== null) {
      const password = nn === '04' ? 'wrong-password' : nn === '03' ? this.target.adminPassword : this.doctorPassword;
      body = substitute(JSON.stringify(x.request.body).split('<password>').join(password), this.subs);
    }
    const url = `${this.target.roots[serviceOf(file)]}${substitute(x.request.path, this.subs)}`;
    const send = async (): Promise<Answer> => {
      const res = await fetch(url, { method: x.request.method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual' });
      const text = await res.text();
      const parsed: unknown = text === '' ? null : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
      return { file, status: res.status, headers: Object.fromEntries([...res.headers.entries()].map(([k, v]) => [k.toLowerCase(), v])), body: parsed };
    };
    let answer = await send();
    if (nn === '32') {
      // The recording polled until ACTIVE; so do we.
      const deadline = Date.now() + 60_000;
      while ((answer.body as { server?: { status?: string } } | null)?.server?.status !== 'ACTIVE' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        answer = await send();
      }
    }
    learnIds(x.response.body, answer.body, this.subs);
    if (nn === '03') this.tokens.admin = answer.headers['x-subject-token'] ?? '';
    if (nn === '11') this.tokens.doctor = answer.headers['x-subject-token'] ?? '';
    if (nn === '33') {
      // The recording's VM ran on compute-2; this cloud's scheduler may choose another host: the two swap roles.
      const host = (answer.body as { server?: Record<string, unknown> } | null)?.server?.['OS-EXT-SRV-ATTR:host'];
      if (typeof host === 'string' && host !== 'compute-2') {
        this.subs.set('compute-2', host);
        this.subs.set(host, 'compute-2');
      }
    }
    this.answers.set(file, answer);
    return answer;
  }
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

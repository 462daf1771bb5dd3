import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** Wire formats the real services use, so the sim's payloads match byte for byte where it matters. */

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function parts(ms: number): { date: string; time: string; micros: string } {
  const d = new Date(Math.floor(ms));
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const micros = pad(Math.floor((ms % 1000) * 1000), 6);
  return { date, time, micros };
}

/** Nova/Neutron/Glance style: 2026-11-21T05:38:36Z */
export function isoSeconds(ms: number): string {
  const p = parts(ms);
  return `${p.date}T${p.time}Z`;
}

/** Python isoformat with microseconds, no zone (Aodh, Nova launched_at): 2026-11-21T05:38:36.797298 */
export function isoMicros(ms: number): string {
  const p = parts(ms);
  return `${p.date}T${p.time}.${p.micros}`;
}

/** Keystone token times: 2026-11-21T06:38:34.000000Z */
export function keystoneTime(ms: number): string {
  const p = parts(Math.floor(ms / 1000) * 1000);
  return `${p.date}T${p.time}.000000Z`;
}

/** Keystone ids are 32 hex digits. */
export const hexId = (): string => randomBytes(16).toString('hex');
export const uuid = (): string => randomUUID();
export const requestId = (): string => `req-${randomUUID()}`;
export const sha224 = (s: string): string => createHash('sha224').update(s).digest('hex');

/**
 * Python's json.dumps with its defaults, as Aodh calls it: ", " and ": " separators, every character
 * outside printable ASCII written as \uXXXX (ensure_ascii; a character beyond the BMP as its two
 * surrogates), keys optionally sorted. Aodh embeds such text in alarm reasons and history details.
 */
export function pyJsonDumps(value: unknown, sortKeys = false): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => pyJsonDumps(v, sortKeys)).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (sortKeys) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${asciiJson(k)}: ${pyJsonDumps(v, sortKeys)}`).join(', ')}}`;
  }
  return typeof value === 'string' ? asciiJson(value) : JSON.stringify(value);
}

/** A JSON string as Python's ensure_ascii writes it (JSON.stringify already escapes the control characters alike). */
function asciiJson(s: string): string {
  return JSON.stringify(s).replace(NON_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
const NON_ASCII = /[\u007f-\uffff]/g;

/** Python's str() of a JSON value, as `%s` prints it in Nova's messages ("Value: %(value)s"): a string bare, anything else as repr. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** Python's repr of JSON-like data, as Nova quotes request bodies in validation errors. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
  }
  return String(value);
}

/** Python's `type(value)` of a decoded JSON value, as WSME names it in a "Wrong type" error. */
export function pyType(value: unknown): string {
  if (value === null || value === undefined) return "<class 'NoneType'>";
  if (typeof value === 'boolean') return "<class 'bool'>";
  if (typeof value === 'number') return Number.isInteger(value) ? "<class 'int'>" : "<class 'float'>";
  if (typeof value === 'string') return "<class 'str'>";
  return Array.isArray(value) ? "<class 'list'>" : "<class 'dict'>";
}

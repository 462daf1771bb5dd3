import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

export interface HttpCall {
  url: string;
  method: string;
  query?: URLSearchParams;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  agents: { http: http.Agent; https: https.Agent };
}

/**
 * One HTTP exchange on node:http with the session's keep-alive agents: the body as text, any
 * status (the caller decides), no redirects, no proxy, no compression. This replaced axios in the
 * session: at 1,000 reset-state calls axios's per-request work was 28 % of the inspector's CPU
 * (request config merging, header objects, adapters) for nothing the session used. Errors are
 * node's own, with their `code` (ECONNREFUSED, ECONNRESET, TLS codes); the whole exchange past
 * `timeoutMs` fails with ETIMEDOUT.
 */
export function httpExchange(call: HttpCall): Promise<HttpAnswer> {
  const url = new URL(call.url);
  if (call.query) for (const [k, v] of call.query) url.searchParams.append(k, v);
  const secure = url.protocol === 'https:';
  const headers = call.body === undefined ? call.headers : { ...call.headers, 'Content-Length': String(Buffer.byteLength(call.body)) };
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const req = (secure ? https : http).request(url, { method: call.method, headers, agent: secure ? call.agents.https : call.agents.http }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => done(() => reject(err)));
      res.on('end', () => done(() => resolve({ status: res.statusCode ?? 0, headers: flat(res.headers), body: Buffer.concat(chunks).toString('utf8') })));
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no complete answer within ${call.timeoutMs} ms`), { code: 'ETIMEDOUT' })), call.timeoutMs);
    req.on('error', (err) => done(() => reject(err)));
    req.end(call.body);
  });
}

function flat(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RecordingServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * A local HTTP endpoint (a consumer, an inspector stand-in) that records every
 * JSON request and answers with `statuses` in turn (200 once they run out).
 */
export async function recordingServer(statuses: number[] = []): Promise<RecordingServer> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      let body: unknown = data;
      try {
        body = data ? JSON.parse(data) : null;
      } catch {
        /* keep the text */
      }
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.statusCode = statuses[received.length - 1] ?? 200;
      res.setHeader('Content-Length', '0');
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A response body as loosely typed JSON, for assertions. */
export const json = async (res: Response): Promise<any> => res.json(); // eslint-disable-line @typescript-eslint/no-explicit-any

export interface RecordingProxy {
  /** Base URL: the target's paths, served through the proxy. */
  url: string;
  /** "METHOD /path?query" of every request, in the order they arrived. */
  requests: string[];
  /** The headers of each of those requests (same index). */
  headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** An HTTP proxy in front of `target` that records the order requests arrive in (the network edge, not our code). */
export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const requests: string[] = [];
  const seen: IncomingHttpHeaders[] = [];
  const base = new URL(target);
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    seen.push({ ...req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v;
      fetch(new URL(req.url!, base), { method: req.method!, headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) })
        .then(async (r) => {
          const body = Buffer.from(await r.arrayBuffer());
          const out: Record<string, string> = {};
          r.headers.forEach((v, k) => {
            if (!['content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'content-length'].includes(k)) out[k] = v;
          });
          res.writeHead(r.status, { ...out, 'content-length': String(body.length) });
          res.end(body);
        })
        .catch((err: Error) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(err.message);
        });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    headers: seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The session's HTTP exchange on node:http, against a real local server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http, { createServer, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { httpExchange } from '../../src/openstack/transport.js';

describe('httpExchange', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ method: string; url: string; length?: string; body: string }> = [];
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, ...(req.headers['content-length'] ? { length: req.headers['content-length'] } : {}), body });
        if (req.url === '/slow') return; // never answers
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.setHeader('X-OpenStack-Request-Id', 'req-1');
        res.end(req.url === '/missing' ? '{"itemNotFound": {}}' : 'héllo');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    agents.http.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends the body with its byte length, adds the query to one already in the URL, and reads UTF-8 text', async () => {
    const r = await httpExchange({ url: `${base}/servers/detail?marker=m1`, method: 'POST', query: new URLSearchParams([['host', 'c 1'], ['all_tenants', '1']]), headers: { 'Content-Type': 'application/json' }, body: '{"n":"é"}', timeoutMs: 5_000, agents });
    expect(r.status).toBe(200);
    expect(r.body).toBe('héllo');
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/servers/detail?marker=m1&host=c+1&all_tenants=1', length: '10', body: '{"n":"é"}' });
    // Lower-case names; a repeated header joined.
    expect(r.headers['x-openstack-request-id']).toBe('req-1');
    expect(r.headers['set-cookie']).toBe('a=1, b=2');
  });

  it('hands any status back (the session decides), and fails with ETIMEDOUT when no answer comes in time', async () => {
    expect((await httpExchange({ url: `${base}/missing`, method: 'GET', headers: {}, timeoutMs: 5_000, agents })).status).toBe(404);
    await expect(httpExchange({ url: `${base}/slow`, method: 'GET', headers: {}, timeoutMs: 100, agents })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('fails with the socket error code when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(httpExchange({ url: `http://127.0.0.1:${port}/`, method: 'GET', headers: {}, timeoutMs: 5_000, agents })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

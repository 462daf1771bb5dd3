/** The JSON body parser every service shares: what a client sending a body gets back, over real HTTP. */
import express from 'express';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byteSize, jsonBody, jsonTail, listen, MAX_JSON_DEPTH, type Listening } from '../../src/shared/index.js';

/** A raw request, so a test controls every header (fetch would add or refuse some). */
function send(port: number, body: string | Buffer | undefined, headers: Record<string, string> = {}, chunked = false, method = 'POST'): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/echo', method, headers: { ...(body !== undefined && !chunked ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('error', reject);
    if (chunked && body !== undefined) {
      // Several chunks, no Content-Length: the limit can only be seen while reading.
      const b = Buffer.from(body);
      for (let i = 0; i < b.length; i += 4096) req.write(b.subarray(i, i + 4096));
    }
    req.end(chunked ? undefined : body);
  });
}

describe('jsonBody', () => {
  let svc: Listening;
  const LIMIT = 10_000;
  beforeAll(async () => {
    const app = express();
    app.all('/echo', jsonBody(LIMIT), (req, res) => {
      res.json({ body: req.body === undefined ? 'unset' : req.body });
    });
    jsonTail(app, 'POST /echo');
    svc = await listen(app);
  });
  afterAll(async () => {
    await svc.close();
  });

  it('parses JSON of any content type, UTF-8 text intact, a byte-order mark dropped; an empty body is {}, no body leaves it unset', async () => {
    expect(await send(svc.port, JSON.stringify({ alarm_id: 'a', name: 'réseau ☃' }), { 'content-type': 'text/plain' })).toEqual({ status: 200, json: { body: { alarm_id: 'a', name: 'réseau ☃' } } });
    expect(await send(svc.port, '\uFEFF[1, 2]', { 'content-type': 'application/json; charset=UTF-8' })).toEqual({ status: 200, json: { body: [1, 2] } });
    expect(await send(svc.port, JSON.stringify({ a: [1, 2, 3] }), {}, true)).toEqual({ status: 200, json: { body: { a: [1, 2, 3] } } });
    expect(await send(svc.port, '')).toEqual({ status: 200, json: { body: {} } });
    expect(await send(svc.port, undefined, {}, false, 'GET')).toEqual({ status: 200, json: { body: 'unset' } });
  });

  it('refuses what it cannot take with a 4xx naming the body: too large (declared or streamed), another charset, compressed, not JSON, too deep', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(LIMIT) });
    const refused = async (body: string, headers: Record<string, string> = {}, chunked = false) => {
      const r = await send(svc.port, body, headers, chunked);
      return [r.status, r.json['field'], String(r.json['error'])];
    };
    expect(await refused(big)).toEqual([413, 'body', expect.stringMatching(/^body: too large/)]);
    expect(await refused(big, {}, true)).toEqual([413, 'body', expect.stringMatching(/^body: too large/)]);
    // Too large comes first, whatever else is wrong with it.
    expect(await refused(big, { 'content-type': 'application/json; charset=utf-16' })).toEqual([413, 'body', expect.stringMatching(/^body: too large/)]);
    expect(await refused('{}', { 'content-type': 'application/json; charset=utf-16' })).toEqual([415, 'body', expect.stringMatching(/UTF-16/)]);
    expect(await refused('{}', { 'content-encoding': 'gzip' })).toEqual([415, 'body', expect.stringMatching(/gzip/)]);
    expect(await refused('{"a": ')).toEqual([400, 'body', expect.stringMatching(/^body: not valid JSON/)]);
    expect(await refused('"a string"')).toEqual([400, 'body', expect.stringMatching(/^body: not valid JSON.*object or an array/)]);
    expect(await refused('  \n')).toEqual([400, 'body', expect.stringMatching(/^body: not valid JSON/)]);
    expect(await refused(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toEqual([400, 'body', expect.stringMatching(/nested deeper than 64/)]);
    expect(await refused(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toEqual([200, undefined, 'undefined']);
  });

  it('the service answers the next request on the same connection after a refusal', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const one = (body: string) => new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: svc.port, path: '/echo', method: 'POST', agent, headers: { 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect([await one('nope'), await one('{"ok": true}'), await one('x'.repeat(LIMIT + 1)), await one('{}')]).toEqual([400, 200, 413, 200]);
    agent.destroy();
  });

  it('reads sizes as body-parser did', () => {
    expect([byteSize('1mb'), byteSize('100kb'), byteSize('512'), byteSize('1.5KB')]).toEqual([1_048_576, 102_400, 512, 1536]);
    expect(() => byteSize('lots')).toThrow(/not a size: lots/);
  });
});

import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';

/** Deeper than this a JSON body is refused (400) before it is parsed: nothing we take nests past a handful. */
export const MAX_JSON_DEPTH = 64;

/** A body-parser error, as it reaches an error handler. */
export interface BodyError {
  type?: string;
  status?: number;
  statusCode?: number;
  message?: string;
}

/**
 * The JSON body parser every service uses: any content type (Aodh and Doctor's monitor do not all
 * send application/json), UTF-8 only (415 for another charset or a compressed body), at most `limit`
 * bytes (413 beyond, refused from Content-Length before a byte is read), at most MAX_JSON_DEPTH levels
 * deep (400: a deep enough document would otherwise exhaust the stack of whatever walks it). An empty
 * body is `{}`; a top-level value that is not an object or an array is refused (400), as body-parser's
 * strict mode did; a request without a body leaves `req.body` unset. Errors carry body-parser's `type`s.
 *
 * This replaced express.json (body-parser): its generic machinery (charset decoding through
 * iconv-lite, loaded on the first body a process sees, inflation, raw-body's stream plumbing) was a
 * measured part of every request of the simulated cloud, and the first event the harness's inspector
 * received paid iconv-lite's loading (7 ms) inside the fault window.
 */
export function jsonBody(limit: string | number = '1mb', opts: { anyTopLevel?: boolean } = {}): RequestHandler {
  const max = typeof limit === 'number' ? limit : byteSize(limit);
  return (req: Request, _res: Response, next: NextFunction) => {
    const declared = req.headers['content-length'];
    if (declared === undefined && req.headers['transfer-encoding'] === undefined) {
      next();
      return;
    }
    // Too large first, as body-parser answered: a client learns the limit before anything else.
    if (declared !== undefined && Number(declared) > max) return next(bodyError(413, 'entity.too.large', 'request entity too large'));
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') return next(bodyError(415, 'encoding.unsupported', `unsupported content encoding "${encoding}"`));
    const charset = CHARSET.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return next(bodyError(415, 'charset.unsupported', `unsupported charset "${charset.toUpperCase()}"`));
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      // After a refusal, read no further; the error handler answers and the connection closes once the answer is out.
      if (err) req.pause();
      next(err);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) return finish(bodyError(413, 'entity.too.large', 'request entity too large'));
      chunks.push(c);
    };
    // node's parser delivers exactly Content-Length bytes before 'end' (fewer: the request is aborted).
    const onEnd = () => {
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (jsonDepth(buf) > MAX_JSON_DEPTH) return finish(bodyError(400, 'entity.too.deep', `nested deeper than ${MAX_JSON_DEPTH} levels`));
      if (size === 0) {
        req.body = {};
        return finish();
      }
      // A byte-order mark goes, as decoding did it.
      const text = buf.toString('utf8').replace(/^\uFEFF/, '');
      const first = FIRST_CHAR.exec(text)?.[0];
      // Strict by default (an object or an array); an API whose body is a bare value (Aodh's alarm state: "ok") takes any.
      if (!opts.anyTopLevel && first !== '{' && first !== '[') {
        return finish(bodyError(400, 'entity.parse.failed', first === undefined ? 'Unexpected end of JSON input' : `Unexpected token '${first}': a JSON body must be an object or an array`));
      }
      try {
        req.body = JSON.parse(text) as unknown;
      } catch (err) {
        return finish(bodyError(400, 'entity.parse.failed', (err as Error).message));
      }
      finish();
    };
    const onError = (err: Error) => finish(bodyError(400, 'request.aborted', err.message));
    const onAborted = () => finish(bodyError(400, 'request.aborted', 'request aborted'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  };
}

/** A refused body, as body-parser's errors reached an error handler (bodyErrorStatus reads them). */
function bodyError(status: number, type: string, message: string): Error & BodyError {
  return Object.assign(new Error(message), { status, statusCode: status, type, expose: true });
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;
/** The first character that is not JSON whitespace. */
const FIRST_CHAR = /[^ \t\n\r]/;
const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** '1mb', '100kb', '512': bytes, as body-parser read them. */
export function byteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: ${text}`);
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

/** The deepest nesting of arrays and objects in a JSON text (strings skipped); cheap, one pass. */
export function jsonDepth(buf: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** The 4xx a body error deserves (413 too large, 415 charset or encoding, 400 the rest); undefined if it is not one. */
export function bodyErrorStatus(err: BodyError): number | undefined {
  const status = err.status ?? err.statusCode;
  if (typeof err.type === 'string' && err.type.startsWith('entity.') || err.type === 'charset.unsupported' || err.type === 'encoding.unsupported' || err.type === 'request.aborted') {
    return status !== undefined && status >= 400 && status < 500 ? status : 400;
  }
  return undefined;
}

/**
 * The tail every harness service ends with: a 404 that says what the service does take, and JSON
 * errors: a bad body is a 4xx naming the body (413 too large, 415 an unknown charset), never a 500 page.
 */
export function jsonTail(app: Express, routesHint: string): void {
  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: `no route ${req.method} ${req.path}; ${routesHint}` });
  });
  app.use((err: BodyError, _req: Request, res: Response, _next: NextFunction) => {
    const status = bodyErrorStatus(err);
    if (status !== undefined) {
      const what = status === 413 ? 'too large' : err.type === 'entity.parse.failed' ? 'not valid JSON' : 'refused';
      res.status(status).json({ error: `body: ${what} (${err.message})`, field: 'body' });
      return;
    }
    res.status(500).json({ error: err.message ?? 'internal error' });
  });
}

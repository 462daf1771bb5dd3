import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

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
 * send application/json), at most `limit` bytes (413 beyond), at most MAX_JSON_DEPTH levels deep
 * (400: a deep enough document would otherwise exhaust the stack of whatever walks it).
 */
export function jsonBody(limit: string | number = '1mb'): RequestHandler {
  return express.json({
    type: () => true,
    limit,
    verify: (_req, _res, buf) => {
      if (jsonDepth(buf) > MAX_JSON_DEPTH) {
        throw Object.assign(new Error(`nested deeper than ${MAX_JSON_DEPTH} levels`), { status: 400, type: 'entity.too.deep' });
      }
    },
  });
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

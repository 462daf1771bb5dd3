import type { NextFunction, Request, Response } from 'express';
import { bodyErrorStatus, type BodyError } from '../../shared/index.js';
import { requestId } from './format.js';
import type { CloudState, TokenRec, UserRec } from './state.js';

export type ServiceKind = 'identity' | 'compute' | 'image' | 'network' | 'alarming';

/** Who is calling, from the X-Auth-Token. */
export interface AuthContext {
  token: TokenRec;
  user: UserRec;
  projectId: string;
  roles: string[];
  isAdmin: boolean;
}

const NOVA_FAULTS: Record<number, string> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'badMethod',
  409: 'conflictingRequest', 413: 'overLimit', 415: 'badMediaType', 429: 'overLimit', 501: 'notImplemented', 503: 'serviceUnavailable',
};
const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
  409: 'Conflict', 413: 'Request Entity Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
const NEUTRON_TYPES: Record<number, string> = {
  400: 'HTTPBadRequest', 403: 'PolicyNotAuthorized', 404: 'HTTPNotFound', 409: 'Conflict', 500: 'HTTPInternalServerError', 503: 'ServiceUnavailable',
};

export interface ErrorOptions {
  /** Nova fault name or Neutron error type, when not the status default. */
  type?: string;
}

/**
 * Sends JSON with exactly the given content type. (express's res.json and
 * res.send(string) append "; charset=utf-8", which Keystone, Glance, Neutron
 * and Aodh do not send.)
 */
export function sendJson(res: Response, body: unknown, contentType = 'application/json'): void {
  res.setHeader('Content-Type', contentType);
  res.send(Buffer.from(JSON.stringify(body)));
}

/** oslo.middleware's sizelimit (max_request_body_size), in every service's pipeline: larger JSON bodies answer 413. */
export const MAX_REQUEST_BODY = 114_688;

/** Makes res.json use sendJson for every route of the sim. */
export function exactJson(_req: Request, res: Response, next: NextFunction): void {
  res.json = (body: unknown) => {
    sendJson(res, body, String(res.getHeader('Content-Type') ?? 'application/json'));
    return res;
  };
  next();
}

/** An error in the shape and content type each real service uses. */
export function sendError(res: Response, kind: ServiceKind, status: number, message: string, opts: ErrorOptions = {}): void {
  if (res.headersSent) return;
  res.status(status);
  switch (kind) {
    case 'compute':
      sendJson(res, { [opts.type ?? NOVA_FAULTS[status] ?? 'computeFault']: { code: status, message } }, 'application/json; charset=UTF-8');
      return;
    case 'identity':
      sendJson(res, { error: { code: status, message, title: TITLES[status] ?? 'Error' } });
      return;
    case 'image': {
      const title = `${status} ${TITLES[status] ?? 'Error'}`;
      res.setHeader('Content-Type', 'text/html; charset=UTF-8');
      res.send(
        Buffer.from(`<html>\n <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n  ${escapeHtml(message)}<br /><br />\n\n\n\n </body>\n</html>`),
      );
      return;
    }
    case 'network':
      sendJson(res, { NeutronError: { type: opts.type ?? NEUTRON_TYPES[status] ?? 'NeutronError', message, detail: '' } });
      return;
    case 'alarming':
      sendJson(res, { error_message: { faultcode: status < 500 ? 'Client' : 'Server', faultstring: message, debuginfo: null } });
      return;
  }
}

/** keystonemiddleware's answer to a missing or bad token, the same for every service. */
export function sendUnauthorized(res: Response): void {
  res.status(401);
  sendJson(res, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
}

const REQUEST_ID_HEADER: Record<ServiceKind, string> = {
  identity: 'x-openstack-request-id',
  compute: 'x-openstack-request-id',
  alarming: 'x-openstack-request-id',
  image: 'X-Openstack-Request-Id',
  network: 'X-Openstack-Request-Id',
};

/** Version documents answered before the request-id middleware in the real services. */
const NO_REQUEST_ID: Partial<Record<ServiceKind, string[]>> = { image: ['/', '/versions'], compute: ['/'], alarming: ['/'] };

export function requestIdMiddleware(kind: ServiceKind) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!NO_REQUEST_ID[kind]?.includes(req.path)) res.setHeader(REQUEST_ID_HEADER[kind], requestId());
    if (kind === 'identity') res.setHeader('Vary', 'X-Auth-Token');
    next();
  };
}

export function resolveToken(state: CloudState, value: string | undefined, now: number): AuthContext | undefined {
  if (!value) return undefined;
  const token = state.tokens.get(value);
  if (!token || token.expiresAt <= now) return undefined;
  const user = state.users.get(token.userId);
  if (!user || !user.enabled || !token.projectId) return undefined;
  return { token, user, projectId: token.projectId, roles: token.roles, isAdmin: token.roles.includes('admin') };
}

export function authMiddleware(state: CloudState, now: () => number) {
  return (req: Request, res: Response, next: NextFunction) => {
    const ctx = resolveToken(state, req.get('x-auth-token'), now());
    if (!ctx) {
      sendUnauthorized(res);
      return;
    }
    res.locals['auth'] = ctx;
    next();
  };
}

export function auth(res: Response): AuthContext {
  return res.locals['auth'] as AuthContext;
}

/** Turns body-parser failures and thrown bugs into the service's own error shape, never an HTML 500. */
export function errorHandler(kind: ServiceKind) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as BodyError;
    // A body the parser refused is the client's fault, in the service's own error shape (oslo's sizelimit: 413).
    const status = bodyErrorStatus(e);
    if (status !== undefined) {
      sendError(res, kind, status, status === 413 ? 'Request is too large.' : `Malformed request body: ${e.message ?? 'invalid JSON'}`);
      return;
    }
    sendError(res, kind, e.status && e.status >= 400 ? e.status : 500, e.message ?? 'internal error');
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** A query parameter as one string (express may give arrays). */
export function qs(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return v === undefined ? undefined : String(v);
}

export function qsAll(req: Request, name: string): string[] {
  const v = req.query[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export { isRecord } from '../../shared/index.js';

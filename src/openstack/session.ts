import http from 'node:http';
import https from 'node:https';
import { ConnectionError, HarnessError, httpError, isRecord, type Logger, NotSupportedError, OpenStackHttpError, realSleep, silentLogger, type Sleep, TimeoutError } from '../shared/index.js';
import { findEndpoint, type CatalogEntry } from './catalog.js';
import type { CloudCredentials } from './credentials.js';
import { negotiate, type VersionRange } from './microversion.js';
import { traceHeaders, type ProfilerOptions } from './osprofiler.js';
import { httpExchange, type HttpAnswer } from './transport.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The compute microversion this client is written and tested against. */
export const COMPUTE_MICROVERSION = '2.53';

export interface RetryPolicy {
  /** Retries after the first try, for idempotent requests. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface SessionOptions {
  credentials: CloudCredentials;
  logger?: Logger;
  /** Per request, whole exchange. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
  now?: () => number;
  /** CA bundle contents (the caller reads `credentials.cacert`). */
  ca?: Buffer | string;
  /** Pin the compute microversion instead of negotiating up to COMPUTE_MICROVERSION. */
  computeMicroversion?: string;
  profiler?: ProfilerOptions & { traceId: string };
}

export interface RequestSpec {
  service: string;
  method: HttpMethod;
  /** Relative to the service endpoint, or absolute when `absolute` is set. */
  path: string;
  absolute?: boolean;
  /** Query parameters; a list repeats its key (Aodh's q.field=a&q.field=b). */
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  rawBody?: Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Send microversion headers (compute only). true = the negotiated one. */
  microversion?: string | true;
  authenticated?: boolean;
  /** POSTs are retried only when the caller says they are safe to repeat. */
  idempotent?: boolean;
  /**
   * 'caller': a 429 or 503 is thrown at once, not retried here, for a caller that paces its own calls
   * by what the API pushes back (the inspector's adaptive limit) and sends them again itself.
   */
  pushBack?: 'retry' | 'caller';
  /** false: no OSProfiler headers on this call, though the session traces (a traced call costs the service its spans). */
  trace?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  headers: Record<string, string>;
  data: T;
  requestId: string | undefined;
  url: string;
}

export interface Token {
  value: string;
  expiresAt: number;
  userId: string;
  projectId: string;
  roles: string[];
  catalog: CatalogEntry[];
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const RETRY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN']);
const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
/** Re-authenticate this long before the token's stated expiry. */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * One session per cloud: owns the token (cached until expiry, one shared
 * re-auth on 401), the catalog, microversion negotiation, retries with capped
 * backoff, timeouts and OSProfiler headers. Nothing secret is logged: log lines
 * carry method, URL, status, duration and request id only.
 */
export class Session {
  readonly credentials: CloudCredentials;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  private readonly sleep: Sleep;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private tokenPromise: Promise<Token> | undefined;
  private readonly versions = new Map<string, Promise<string>>();
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(private readonly opts: SessionOptions) {
    this.credentials = opts.credentials;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'openstack' });
    this.retry = { retries: 4, baseDelayMs: 200, maxDelayMs: 5_000, ...opts.retry };
    this.sleep = opts.sleep ?? realSleep;
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
      https: new https.Agent({
        keepAlive: true,
        maxSockets: 64,
        rejectUnauthorized: !opts.credentials.insecure,
        ...(opts.ca ? { ca: opts.ca } : {}),
      }),
    };
  }

  /** Keystone v3 base URL (…/v3), whatever form OS_AUTH_URL took. */
  get identityUrl(): string {
    const base = this.credentials.authUrl.replace(/\/+$/, '');
    return /\/v3$/.test(base) ? base : `${base}/v3`;
  }

  get traceId(): string | undefined {
    return this.opts.profiler?.traceId;
  }

  async token(): Promise<Token> {
    const current = this.tokenPromise;
    if (current) {
      const t = await current.catch(() => undefined);
      if (t && this.now() < t.expiresAt - EXPIRY_MARGIN_MS) return t;
      if (this.tokenPromise !== current) return this.token();
    }
    return this.reauthenticate(current);
  }

  /**
   * After a 401 with token `used`: fetch a new one unless another request
   * already did, so N concurrent rejections cause one re-authentication.
   */
  private async replaceToken(used: string | undefined): Promise<void> {
    const current = this.tokenPromise;
    const t = current ? await current.catch(() => undefined) : undefined;
    if (t && t.value !== used) return;
    await this.reauthenticate(current);
  }

  /** Drops the token if it is still `stale` and fetches one; concurrent callers share it. */
  private reauthenticate(stale: Promise<Token> | undefined): Promise<Token> {
    if (this.tokenPromise !== stale && this.tokenPromise) return this.tokenPromise;
    const p = this.authenticate();
    this.tokenPromise = p;
    p.catch(() => {
      if (this.tokenPromise === p) this.tokenPromise = undefined;
    });
    return p;
  }

  private async authenticate(): Promise<Token> {
    const url = `${this.identityUrl}/auth/tokens`;
    let res: ApiResponse<unknown>;
    try {
      res = await this.send<unknown>(
        { service: 'identity', method: 'POST', path: url, absolute: true, body: authBody(this.credentials), authenticated: false, idempotent: true },
        url,
      );
    } catch (err) {
      if (err instanceof ConnectionError && err.code && TLS_ERRORS.has(err.code)) {
        throw new ConnectionError(
          'POST',
          url,
          err.code,
          `TLS verification of ${this.credentials.authUrl} failed (${err.code}); set OS_CACERT (clouds.yaml cacert) to the CA bundle that signed it, or OS_INSECURE=true (verify: false) to skip verification`,
          { cause: err },
        );
      }
      if (err instanceof ConnectionError || err instanceof TimeoutError) {
        throw new ConnectionError(
          'POST',
          url,
          err instanceof ConnectionError ? err.code : 'ETIMEDOUT',
          `cannot reach Keystone at ${this.credentials.authUrl} (${err.message}); check OS_AUTH_URL / auth_url in ${this.credentials.source}`,
          { cause: err },
        );
      }
      if (err instanceof OpenStackHttpError) {
        const hint =
          err.status === 401
            ? `Keystone rejected the credentials from ${this.credentials.source}: check the user name, password, project and domains`
            : err.status === 404 || err.status === 405
              ? `is OS_AUTH_URL (${this.credentials.authUrl}) a Keystone v3 endpoint?`
              : undefined;
        throw httpError(
          { status: err.status, method: err.method, url: err.url, requestId: err.requestId, body: err.bodyExcerpt },
          { cause: err, ...(hint ? { hint } : {}) },
        );
      }
      throw err;
    }
    const subject = res.headers['x-subject-token'];
    const body = res.data;
    if (!subject || !isRecord(body) || !isRecord(body['token'])) {
      throw new HarnessError(`Keystone at ${url} answered ${res.status} without a token; is OS_AUTH_URL a Keystone v3 endpoint?`);
    }
    const t = body['token'];
    const expires = Date.parse(String(t['expires_at'] ?? ''));
    const project = isRecord(t['project']) ? t['project'] : {};
    const user = isRecord(t['user']) ? t['user'] : {};
    const roles = Array.isArray(t['roles']) ? t['roles'] : [];
    this.log.debug({ userId: user['id'], projectId: project['id'], expiresAt: t['expires_at'] }, 'authenticated');
    return {
      value: subject,
      expiresAt: Number.isFinite(expires) ? expires : this.now() + 3_600_000,
      userId: String(user['id'] ?? ''),
      projectId: String(project['id'] ?? ''),
      roles: roles.filter(isRecord).map((r) => String(r['name'])),
      catalog: Array.isArray(t['catalog']) ? (t['catalog'] as CatalogEntry[]) : [],
    };
  }

  async endpoint(service: string): Promise<string> {
    const override = this.credentials.endpointOverrides[service];
    if (override) return override.replace(/\/+$/, '');
    if (service === 'identity') return this.identityUrl;
    const token = await this.token();
    return findEndpoint(token.catalog, service, this.credentials.interface, this.credentials.regionName);
  }

  /** The compute microversion in use: negotiated once from the version document. */
  computeMicroversion(): Promise<string> {
    let p = this.versions.get('compute');
    if (!p) {
      p = this.negotiateCompute();
      this.versions.set('compute', p);
      p.catch(() => this.versions.delete('compute'));
    }
    return p;
  }

  private async negotiateCompute(): Promise<string> {
    const endpoint = await this.endpoint('compute');
    const m = /^(.*?\/v2(?:\.1)?)(?:\/.*)?$/.exec(endpoint);
    const versionUrl = `${m ? m[1] : endpoint}/`;
    const res = await this.request<unknown>({ service: 'compute', method: 'GET', path: versionUrl, absolute: true });
    const range = parseVersionDocument(res.data);
    if (!range) {
      throw new NotSupportedError(`the compute API at ${versionUrl} offers no microversions (legacy v2.0?); the harness needs v2.1`);
    }
    const wanted = this.opts.computeMicroversion ?? COMPUTE_MICROVERSION;
    const chosen = negotiate(range, wanted);
    this.log.debug({ server: range, chosen }, 'negotiated compute microversion');
    return chosen;
  }

  async request<T>(spec: RequestSpec): Promise<ApiResponse<T>> {
    const base = spec.absolute ? '' : await this.endpoint(spec.service);
    return this.send<T>(spec, `${base}${spec.path}`);
  }

  private async send<T>(spec: RequestSpec, url: string): Promise<ApiResponse<T>> {
    const authenticated = spec.authenticated ?? true;
    const idempotent = spec.idempotent ?? IDEMPOTENT.has(spec.method);
    let attempt = 0;
    let reauthed = false;
    for (;;) {
      const headers = await this.headersFor(spec, authenticated);
      const started = this.now();
      let res: HttpAnswer;
      try {
        const body = spec.rawBody ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body));
        res = await httpExchange({
          url, method: spec.method, headers, timeoutMs: this.timeoutMs, agents: this.agents,
          ...(spec.query ? { query: queryParams(spec.query) } : {}), ...(body !== undefined ? { body } : {}),
        });
      } catch (err) {
        const code = errorCode(err);
        // A fresh error as the cause, not the transport's: nothing of the request (body, token) can ride along.
        const cause = Object.assign(new Error((err as Error).message), code ? { code } : {});
        const failure =
          code === 'ECONNABORTED' || code === 'ETIMEDOUT'
            ? new TimeoutError(`${spec.method} ${url} got no answer within ${this.timeoutMs} ms`, this.timeoutMs, { cause })
            : new ConnectionError(spec.method, url, code, `${spec.method} ${url} failed: ${code ?? (err as Error).message}`, { cause });
        if (idempotent && code && RETRY_CODES.has(code) && attempt < this.retry.retries) {
          const delay = this.backoff(attempt++);
          this.log.warn({ method: spec.method, url, code, attempt, delayMs: delay }, 'request failed, retrying');
          await this.sleep(delay);
          continue;
        }
        throw failure;
      }
      const responseHeaders = res.headers;
      const requestId = responseHeaders['x-openstack-request-id'] ?? responseHeaders['x-compute-request-id'];
      this.log.debug(
        { method: spec.method, url, status: res.status, ms: Math.round(this.now() - started), requestId },
        'openstack request',
      );
      if (res.status === 401 && authenticated && !reauthed) {
        reauthed = true;
        this.log.info({ url }, 'token rejected, re-authenticating once');
        await this.replaceToken(headers['X-Auth-Token']);
        continue;
      }
      const pacedByCaller = spec.pushBack === 'caller' && (res.status === 429 || res.status === 503);
      if (RETRY_STATUSES.has(res.status) && idempotent && !pacedByCaller && attempt < this.retry.retries) {
        const after = res.status === 429 ? retryAfterMs(responseHeaders['retry-after'], this.now()) : undefined;
        const delay = after ?? this.backoff(attempt);
        attempt++;
        this.log.warn({ method: spec.method, url, status: res.status, attempt, delayMs: delay, requestId }, 'retrying');
        await this.sleep(delay);
        continue;
      }
      const text = res.body;
      if (res.status < 200 || res.status >= 300) {
        throw httpError({ status: res.status, method: spec.method, url, requestId, body: text });
      }
      return { status: res.status, headers: responseHeaders, data: parseBody(text, responseHeaders) as T, requestId, url };
    }
  }

  private async headersFor(spec: RequestSpec, authenticated: boolean): Promise<Record<string, string>> {
    const h: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'doctor-harness' };
    if (spec.rawBody) h['Content-Type'] = spec.contentType ?? 'application/octet-stream';
    else if (spec.body !== undefined) h['Content-Type'] = 'application/json';
    if (authenticated) h['X-Auth-Token'] = (await this.token()).value;
    if (spec.microversion) {
      const v = spec.microversion === true ? await this.computeMicroversion() : spec.microversion;
      h['X-OpenStack-Nova-API-Version'] = v;
      h['OpenStack-API-Version'] = `compute ${v}`;
    }
    if (this.opts.profiler && spec.trace !== false) Object.assign(h, traceHeaders(this.opts.profiler.hmacKey, this.opts.profiler.traceId));
    return { ...h, ...spec.headers };
  }

  private backoff(attempt: number): number {
    const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
    return Math.round(exp * (0.8 + 0.4 * Math.random()));
  }

  /** Closes pooled connections so the process can exit. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

export function authBody(c: CloudCredentials): unknown {
  const domain = (id?: string, name?: string) => (id ? { id } : name ? { name } : undefined);
  const user: Record<string, unknown> = { password: c.password };
  if (c.userId) user['id'] = c.userId;
  else {
    user['name'] = c.username;
    user['domain'] = domain(c.userDomainId, c.userDomainName);
  }
  const project: Record<string, unknown> = c.projectId
    ? { id: c.projectId }
    : { name: c.projectName, domain: domain(c.projectDomainId, c.projectDomainName) };
  return { auth: { identity: { methods: ['password'], password: { user } }, scope: { project } } };
}

export function parseVersionDocument(doc: unknown): VersionRange | undefined {
  const v = isRecord(doc) && isRecord(doc['version']) ? doc['version'] : undefined;
  const max = v ? String(v['version'] ?? '') : '';
  const min = v ? String(v['min_version'] ?? '') : '';
  return max && min ? { min, max } : undefined;
}

export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const capped = (ms: number) => Math.max(0, Math.min(ms, 60_000));
  if (/^\d+(\.\d+)?$/.test(value.trim())) return capped(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : capped(date - now);
}

function parseBody(text: string, headers: Record<string, string>): unknown {
  if (!text) return null;
  const type = headers['content-type'] ?? '';
  if (type.includes('json') || /^[[{]/.test(text.trimStart())) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function queryParams(q: Record<string, string | number | boolean | string[] | undefined>): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (Array.isArray(v)) for (const item of v) out.append(k, item);
    else if (v !== undefined) out.append(k, String(v));
  }
  return out;
}

function errorCode(err: unknown): string | undefined {
  if (!isRecord(err)) return undefined;
  const code = err['code'];
  if (typeof code === 'string') return code;
  const cause = err['cause'];
  return isRecord(cause) && typeof cause['code'] === 'string' ? cause['code'] : undefined;
}

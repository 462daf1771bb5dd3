/**
 * The harness's error tree. Every error a user can see says what failed, with
 * which value, and what to do next; `cause` keeps the original.
 */

export class HarnessError extends Error {
  override name = 'HarnessError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad or missing configuration: names the field and how to fix it. */
export class ConfigError extends HarnessError {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

export class TimeoutError extends HarnessError {
  override name = 'TimeoutError';
  constructor(
    message: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server lacks what we are about to use (a microversion, a service). */
export class NotSupportedError extends HarnessError {
  override name = 'NotSupportedError';
}

/** A request could not reach the server at all (DNS, refused, reset, TLS). */
export class ConnectionError extends HarnessError {
  override name = 'ConnectionError';
  constructor(
    readonly method: string,
    readonly url: string,
    readonly code: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface HttpErrorDetails {
  status: number;
  method: string;
  url: string;
  requestId: string | undefined;
  body: string;
}

const BODY_EXCERPT = 300;

/** Non-2xx answer from an OpenStack API. */
export class OpenStackHttpError extends HarnessError {
  override name = 'OpenStackHttpError';
  readonly status: number;
  readonly method: string;
  readonly url: string;
  readonly requestId: string | undefined;
  /** A short excerpt of the response body (never the request body). */
  readonly bodyExcerpt: string;

  constructor(details: HttpErrorDetails, options?: { cause?: unknown; hint?: string }) {
    const excerpt = excerptOf(details.body);
    const fault = faultMessage(details.body);
    const rid = details.requestId ? ` [request ${details.requestId}]` : '';
    const hint = options?.hint ? `; ${options.hint}` : '';
    super(
      `${details.method} ${details.url} answered ${details.status}${fault ? `: ${fault}` : ''}${rid}${hint}`,
      options,
    );
    this.status = details.status;
    this.method = details.method;
    this.url = details.url;
    this.requestId = details.requestId;
    this.bodyExcerpt = excerpt;
  }
}

/** 404: the resource is not there (deleted, never made, or another cloud's). */
export class NotFoundError extends OpenStackHttpError {
  override name = 'NotFoundError';
}

/** 409: the resource is in a state that refuses the request. */
export class ConflictError extends OpenStackHttpError {
  override name = 'ConflictError';
}

/** The error class for an HTTP status: `instanceof NotFoundError` instead of status checks. */
export function httpError(details: HttpErrorDetails, options?: { cause?: unknown; hint?: string }): OpenStackHttpError {
  if (details.status === 404) return new NotFoundError(details, options);
  if (details.status === 409) return new ConflictError(details, options);
  return new OpenStackHttpError(details, options);
}

export class FaultInjectionError extends HarnessError {
  override name = 'FaultInjectionError';
}

function excerptOf(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > BODY_EXCERPT ? `${flat.slice(0, BODY_EXCERPT)}…` : flat;
}

/**
 * OpenStack services wrap the message differently: Nova `{fault:{message}}`,
 * Keystone `{error:{message}}`, Neutron `{NeutronError:{message}}`, Aodh
 * `{error_message:{faultstring}}`. Pull the human sentence out of any of them.
 */
export function faultMessage(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = excerptOf(body.replace(/<[^>]*>/g, ' '));
    return text || undefined;
  }
  if (!isRecord(parsed)) return undefined;
  for (const value of Object.values(parsed)) {
    if (isRecord(value)) {
      const msg = value['message'] ?? value['faultstring'];
      if (typeof msg === 'string' && msg) return msg;
    }
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A bug surfaced outside the code that caused it (an uncaught exception): the run ends with an error, after its cleanup. */
export class InternalError extends HarnessError {
  override name = 'InternalError';
}

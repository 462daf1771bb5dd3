import type { NextFunction, Request, Response } from 'express';
import { realSleep } from '../../shared/index.js';
import { sendError, type ServiceKind } from './http.js';

export interface ApiErrorFault {
  service: ServiceKind;
  status: number;
  /** How many requests fail; undefined = until reset. */
  remaining?: number;
  method?: string;
  /** How many matching requests still pass before the failures start. */
  after?: number;
}

/**
 * Switches for tests and demos: an API answers 5xx or slowly, webhooks are
 * dropped. (Token revocation lives on the cloud: it touches state.)
 */
export class Faults {
  private errors: ApiErrorFault[] = [];
  private readonly delays = new Map<ServiceKind, number>();
  private webhooksToDrop = 0;

  failApi(service: ServiceKind, status: number, opts: { count?: number; method?: string; after?: number } = {}): void {
    this.errors.push({
      service, status, ...(opts.count !== undefined ? { remaining: opts.count } : {}), ...(opts.method ? { method: opts.method.toUpperCase() } : {}),
      ...(opts.after ? { after: opts.after } : {}),
    });
  }

  slowApi(service: ServiceKind, ms: number): void {
    if (ms > 0) this.delays.set(service, ms);
    else this.delays.delete(service);
  }

  /** Drop the next `count` webhook deliveries (default: all until reset). */
  dropWebhooks(count = Number.POSITIVE_INFINITY): void {
    this.webhooksToDrop = count;
  }

  takeWebhookDrop(): boolean {
    if (this.webhooksToDrop <= 0) return false;
    this.webhooksToDrop -= 1;
    return true;
  }

  reset(): void {
    this.errors = [];
    this.delays.clear();
    this.webhooksToDrop = 0;
  }

  describe(): { errors: ApiErrorFault[]; delays: Record<string, number>; webhooksToDrop: number | 'all' } {
    return {
      errors: this.errors.map((e) => ({ ...e })),
      delays: Object.fromEntries(this.delays),
      webhooksToDrop: Number.isFinite(this.webhooksToDrop) ? this.webhooksToDrop : 'all',
    };
  }

  private takeError(service: ServiceKind, method: string): number | undefined {
    const i = this.errors.findIndex((e) => e.service === service && (!e.method || e.method === method));
    if (i < 0) return undefined;
    const e = this.errors[i]!;
    if (e.after) {
      e.after -= 1;
      return undefined;
    }
    if (e.remaining !== undefined) {
      e.remaining -= 1;
      if (e.remaining <= 0) this.errors.splice(i, 1);
    }
    return e.status;
  }

  middleware(service: ServiceKind) {
    return async (req: Request, res: Response, next: NextFunction) => {
      const delay = this.delays.get(service);
      if (delay) await realSleep(delay);
      const status = this.takeError(service, req.method);
      if (status !== undefined) {
        if (status === 429) res.setHeader('Retry-After', '0');
        sendError(res, service, status, `Injected fault: the ${service} API answers ${status}`);
        return;
      }
      next();
    };
  }
}

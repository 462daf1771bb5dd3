import { HarnessError, NotFoundError, NotSupportedError } from '../../shared/index.js';
import type { Session } from '../session.js';
import { enc } from '../identity.js';
import { compareMicroversions } from '../microversion.js';

export interface ComputeService {
  /** Integer below 2.53, UUID from 2.53. */
  id: string | number;
  binary: string;
  host: string;
  zone: string;
  status: string;
  state: string;
  forcedDown: boolean;
  updatedAt: string | null;
}

interface WireService {
  id: string | number;
  binary: string;
  host: string;
  zone: string;
  status: string;
  state: string;
  forced_down?: boolean;
  updated_at: string | null;
}

const fromWire = (w: WireService): ComputeService => ({
  id: w.id,
  binary: w.binary,
  host: w.host,
  zone: w.zone,
  status: w.status,
  state: w.state,
  forcedDown: w.forced_down ?? false,
  updatedAt: w.updated_at,
});

export interface ForceDownResult {
  host: string;
  forcedDown: boolean;
  /** Which API shape was used. */
  path: 'legacy-2.11' | 'uuid-2.53';
}

export class ServicesApi {
  constructor(private readonly s: Session) {}

  async list(filter: { host?: string; binary?: string } = {}): Promise<ComputeService[]> {
    const r = await this.s.request<{ services: WireService[] }>({
      service: 'compute', method: 'GET', path: '/os-services', microversion: true,
      query: { binary: filter.binary, host: filter.host },
    });
    return r.data.services.map(fromWire);
  }

  /** The id of nova-compute on `host` (what the 2.53 force-down path takes). */
  async computeServiceId(host: string): Promise<string | number> {
    const [svc, ...more] = await this.list({ host, binary: 'nova-compute' });
    if (!svc) throw new HarnessError(`no nova-compute service on host "${host}"; check the host name against GET /os-services`);
    if (more.length) throw new HarnessError(`${more.length + 1} nova-compute services match host "${host}"; refusing to guess`);
    return svc.id;
  }

  /**
   * Marks nova-compute on `host` forced down (or clears it). 2.11–2.52:
   * `PUT /os-services/force-down {host, binary, forced_down}`; from 2.53 that
   * path is rejected and the service is updated by UUID instead.
   */
  async forceDown(host: string, forcedDown: boolean, opts: { serviceId?: string | number } = {}): Promise<ForceDownResult> {
    const v = await this.s.computeMicroversion();
    if (compareMicroversions(v, '2.53') >= 0) {
      const put = (id: string | number) => this.s.request({
        service: 'compute', method: 'PUT', path: `/os-services/${enc(String(id))}`,
        body: { forced_down: forcedDown }, microversion: true,
      });
      // A caller that looked the service up beforehand saves the lookup; a stale id (the service was re-created) falls back to it.
      if (opts.serviceId !== undefined) {
        try {
          await put(opts.serviceId);
          return { host, forcedDown, path: 'uuid-2.53' };
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      await put(await this.computeServiceId(host));
      return { host, forcedDown, path: 'uuid-2.53' };
    }
    if (compareMicroversions(v, '2.11') < 0) {
      throw new NotSupportedError(`forcing a compute service down needs microversion 2.11 but ${v} is in use`);
    }
    await this.s.request({
      service: 'compute', method: 'PUT', path: '/os-services/force-down',
      body: { host, binary: 'nova-compute', forced_down: forcedDown }, microversion: true,
    });
    return { host, forcedDown, path: 'legacy-2.11' };
  }
}

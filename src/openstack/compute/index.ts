import type { Session } from '../session.js';
import { FlavorsApi } from './flavors.js';
import { HypervisorsApi } from './hypervisors.js';
import { QuotasApi } from './quotas.js';
import { ServersApi } from './servers.js';
import { ServicesApi } from './services.js';

export type { Server, CreateServerInput } from './servers.js';
export type { ComputeService, ForceDownResult } from './services.js';
export type { Hypervisor } from './hypervisors.js';
export type { Flavor } from './flavors.js';
export type { QuotaSet } from './quotas.js';

/** Nova, at the microversion the session negotiated. */
export class ComputeClient {
  readonly servers: ServersApi;
  readonly services: ServicesApi;
  readonly hypervisors: HypervisorsApi;
  readonly flavors: FlavorsApi;
  readonly quotas: QuotasApi;

  constructor(private readonly s: Session) {
    this.servers = new ServersApi(s);
    this.services = new ServicesApi(s);
    this.hypervisors = new HypervisorsApi(s);
    this.flavors = new FlavorsApi(s);
    this.quotas = new QuotasApi(s);
  }

  microversion(): Promise<string> {
    return this.s.computeMicroversion();
  }
}

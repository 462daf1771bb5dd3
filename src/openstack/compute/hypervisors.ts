import type { Session } from '../session.js';
import { allPages } from './paging.js';

export interface Hypervisor {
  /** Integer below 2.53, UUID from 2.53. */
  id: string | number;
  hostname: string;
  /** The compute service's host name (what servers' OS-EXT-SRV-ATTR:host shows). */
  serviceHost: string;
  hostIp: string;
  state: string;
  status: string;
  runningVms: number | undefined;
}

interface WireHypervisor {
  id: string | number;
  hypervisor_hostname: string;
  host_ip: string;
  state: string;
  status: string;
  running_vms?: number;
  service: { host: string };
}

export class HypervisorsApi {
  constructor(private readonly s: Session) {}

  /** `GET /os-hypervisors/detail`, every page (paged like servers from 2.33). */
  async listDetail(): Promise<Hypervisor[]> {
    const wire = await allPages<WireHypervisor>(this.s, '/os-hypervisors/detail', 'hypervisors');
    return wire.map((h) => ({
      id: h.id,
      hostname: h.hypervisor_hostname,
      serviceHost: h.service.host,
      hostIp: h.host_ip,
      state: h.state,
      status: h.status,
      runningVms: h.running_vms,
    }));
  }
}

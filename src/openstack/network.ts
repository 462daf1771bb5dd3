import type { Session } from './session.js';
import { enc } from './identity.js';

export interface Network {
  id: string;
  name: string;
  projectId: string;
  status: string;
  subnets: string[];
}
export interface Subnet {
  id: string;
  name: string;
  networkId: string;
  cidr: string;
}

interface WireNetwork {
  id: string;
  name: string;
  project_id: string;
  status: string;
  subnets: string[];
}
interface WireSubnet {
  id: string;
  name: string;
  network_id: string;
  cidr: string;
}

const net = (w: WireNetwork): Network => ({ id: w.id, name: w.name, projectId: w.project_id, status: w.status, subnets: w.subnets });
const sub = (w: WireSubnet): Subnet => ({ id: w.id, name: w.name, networkId: w.network_id, cidr: w.cidr });

/** Neutron v2.0: only what the run needs when the cloud needs a network. */
export class NetworkClient {
  constructor(private readonly s: Session) {}

  async listNetworks(filter: { name?: string; projectId?: string } = {}): Promise<Network[]> {
    const r = await this.s.request<{ networks: WireNetwork[] }>({
      service: 'network', method: 'GET', path: '/v2.0/networks', query: { name: filter.name, project_id: filter.projectId },
    });
    return r.data.networks.map(net);
  }

  async createNetwork(input: { name: string; projectId?: string; providerNetworkType?: string; providerPhysicalNetwork?: string }): Promise<Network> {
    const network: Record<string, unknown> = { name: input.name };
    if (input.projectId) network['project_id'] = input.projectId;
    if (input.providerNetworkType) network['provider:network_type'] = input.providerNetworkType;
    if (input.providerPhysicalNetwork) network['provider:physical_network'] = input.providerPhysicalNetwork;
    const r = await this.s.request<{ network: WireNetwork }>({ service: 'network', method: 'POST', path: '/v2.0/networks', body: { network } });
    return net(r.data.network);
  }

  async deleteNetwork(id: string): Promise<void> {
    await this.s.request({ service: 'network', method: 'DELETE', path: `/v2.0/networks/${enc(id)}` });
  }

  async createSubnet(input: { name: string; networkId: string; cidr: string; enableDhcp?: boolean }): Promise<Subnet> {
    const r = await this.s.request<{ subnet: WireSubnet }>({
      service: 'network', method: 'POST', path: '/v2.0/subnets',
      body: { subnet: { name: input.name, network_id: input.networkId, cidr: input.cidr, ip_version: 4, enable_dhcp: input.enableDhcp ?? false } },
    });
    return sub(r.data.subnet);
  }

  async deleteSubnet(id: string): Promise<void> {
    await this.s.request({ service: 'network', method: 'DELETE', path: `/v2.0/subnets/${enc(id)}` });
  }
}

import type { Session } from '../session.js';
import { enc } from '../identity.js';
import { HarnessError } from '../../shared/index.js';
import { requireMicroversion } from '../microversion.js';
import { allPages } from './paging.js';

export interface Server {
  id: string;
  name: string;
  status: string;
  projectId: string;
  userId: string;
  /** `OS-EXT-SRV-ATTR:host` (admin only); undefined when not shown or not scheduled. */
  host: string | undefined;
  hypervisorHostname: string | undefined;
  /** `host_status` (2.16+, admin): UP, UNKNOWN, DOWN, MAINTENANCE or "". */
  hostStatus: string | undefined;
  vmState: string | undefined;
  taskState: string | null | undefined;
  created: string;
  updated: string;
}

export interface WireServer {
  id: string;
  name: string;
  status: string;
  tenant_id: string;
  user_id: string;
  created: string;
  updated: string;
  'OS-EXT-SRV-ATTR:host'?: string | null;
  'OS-EXT-SRV-ATTR:hypervisor_hostname'?: string | null;
  'OS-EXT-STS:vm_state'?: string;
  'OS-EXT-STS:task_state'?: string | null;
  host_status?: string;
}

export function serverFromWire(w: WireServer): Server {
  return {
    id: w.id,
    name: w.name,
    status: w.status,
    projectId: w.tenant_id,
    userId: w.user_id,
    host: w['OS-EXT-SRV-ATTR:host'] ?? undefined,
    hypervisorHostname: w['OS-EXT-SRV-ATTR:hypervisor_hostname'] ?? undefined,
    hostStatus: w.host_status,
    vmState: w['OS-EXT-STS:vm_state'],
    taskState: w['OS-EXT-STS:task_state'],
    created: w.created,
    updated: w.updated,
  };
}

export interface CreateServerInput {
  name: string;
  imageRef: string;
  flavorRef: string;
  /** "none", "auto" (2.37+) or network ids. Omitted below 2.37 means "any". */
  networks?: 'none' | 'auto' | string[];
  /** "zone" or "zone:host" (pinning a host is admin-only by default policy). */
  availabilityZone?: string;
}

export class ServersApi {
  constructor(private readonly s: Session) {}

  async create(input: CreateServerInput): Promise<{ id: string; adminPassSet: boolean }> {
    const v = await this.s.computeMicroversion();
    const server = serverBody(input, v);
    const r = await this.s.request<{ server: { id: string; adminPass?: string } }>({
      service: 'compute', method: 'POST', path: '/servers', body: { server }, microversion: true,
    });
    return { id: r.data.server.id, adminPassSet: Boolean(r.data.server.adminPass) };
  }

  /**
   * `count` servers in one request (min_count = max_count: all or none, within the quotas), named by
   * Nova's multi_instance_display_name_template (`<name>-1` … `<name>-<count>` by default); their
   * reservation id finds them (listDetail({ reservationId })).
   */
  async createMany(input: CreateServerInput, count: number): Promise<{ reservationId: string }> {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`a multi-create needs a whole count ≥ 1 (got ${count})`);
    const v = await this.s.computeMicroversion();
    const server = serverBody(input, v);
    Object.assign(server, { min_count: count, max_count: count, return_reservation_id: true });
    const r = await this.s.request<{ reservation_id: string }>({ service: 'compute', method: 'POST', path: '/servers', body: { server }, microversion: true });
    if (typeof r.data.reservation_id !== 'string') throw new HarnessError('POST /servers with return_reservation_id answered no reservation_id');
    return { reservationId: r.data.reservation_id };
  }

  async get(id: string): Promise<Server> {
    const r = await this.s.request<{ server: WireServer }>({ service: 'compute', method: 'GET', path: `/servers/${enc(id)}`, microversion: true });
    return serverFromWire(r.data.server);
  }

  /**
   * `GET /servers/detail`, every page: Nova answers at most `[api] max_limit` servers (1000) and links the
   * next page (`servers_links`, rel next, its marker the last server's id). `host` and `allTenants` are
   * honoured for admins only.
   */
  async listDetail(filter: { allTenants?: boolean; host?: string; name?: string; reservationId?: string } = {}): Promise<Server[]> {
    const wire = await allPages<WireServer>(this.s, '/servers/detail', 'servers', {
      all_tenants: filter.allTenants ? 1 : undefined, host: filter.host, name: filter.name, reservation_id: filter.reservationId,
    });
    return wire.map(serverFromWire);
  }

  /**
   * `GET /servers`, every page: ids and names only. Nova builds no detailed view (flavor, addresses, faults,
   * extended attributes) for it; the detailed list of a host's 50 VMs took 243 ms on the all-in-one lab.
   */
  async list(filter: { allTenants?: boolean; host?: string } = {}): Promise<Array<{ id: string; name: string }>> {
    const wire = await allPages<{ id: string; name: string }>(this.s, '/servers', 'servers', { all_tenants: filter.allTenants ? 1 : undefined, host: filter.host });
    return wire.map((w) => ({ id: w.id, name: w.name }));
  }

  async delete(id: string): Promise<void> {
    await this.s.request({ service: 'compute', method: 'DELETE', path: `/servers/${enc(id)}`, microversion: true });
  }

  /** os-resetState (admin): only "active" and "error" are valid. 202, no body. `pushBack`, `trace`: see RequestSpec. */
  async resetState(id: string, state: 'active' | 'error', opts: { pushBack?: 'retry' | 'caller'; trace?: boolean } = {}): Promise<void> {
    await this.s.request({
      service: 'compute', method: 'POST', path: `/servers/${enc(id)}/action`,
      body: { 'os-resetState': { state } }, microversion: true, idempotent: true,
      ...(opts.pushBack ? { pushBack: opts.pushBack } : {}), ...(opts.trace === false ? { trace: false } : {}),
    });
  }
}

function serverBody(input: CreateServerInput, microversion: string): Record<string, unknown> {
  const server: Record<string, unknown> = { name: input.name, imageRef: input.imageRef, flavorRef: input.flavorRef };
  if (input.networks !== undefined) {
    if (typeof input.networks === 'string') requireMicroversion(microversion, '2.37', `networks "${input.networks}"`);
    server['networks'] = typeof input.networks === 'string' ? input.networks : input.networks.map((uuid) => ({ uuid }));
  }
  if (input.availabilityZone) server['availability_zone'] = input.availabilityZone;
  return server;
}

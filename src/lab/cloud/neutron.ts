import { type Response, Router } from 'express';
import { jsonBody } from '../../shared/index.js';
import type { Cloud } from './cloud.js';
import { isoSeconds, pyRepr, uuid } from './format.js';
import { auth, authMiddleware, errorHandler, isRecord, qs, sendError, type AuthContext, MAX_REQUEST_BODY } from './http.js';
import type { NetworkRec, SubnetRec } from './state.js';

const err = (res: Response, status: number, message: string, type?: string) =>
  sendError(res, 'network', status, message, type ? { type } : {});

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Neutron v2.0 subset: networks and subnets. */
export function neutronRouter(cloud: Cloud): Router {
  const r = Router();
  const s = cloud.state;
  let vni = 1000;

  r.get('/', (_req, res) => {
    res.json({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${cloud.baseUrl}/network/v2.0/`, rel: 'self' }] }] });
  });

  const netView = (n: NetworkRec, ctx: AuthContext) => {
    const v: Record<string, unknown> = {
      id: n.id, name: n.name, tenant_id: n.projectId, admin_state_up: true, mtu: n.networkType === 'vxlan' ? 1450 : 1500,
      status: 'ACTIVE', subnets: [...n.subnets], shared: n.shared, project_id: n.projectId, 'router:external': false,
    };
    if (ctx.isAdmin) {
      Object.assign(v, { 'provider:network_type': n.networkType, 'provider:physical_network': n.physicalNetwork, 'provider:segmentation_id': n.segmentationId });
    }
    Object.assign(v, {
      availability_zone_hints: [], availability_zones: [], ipv4_address_scope: null, ipv6_address_scope: null,
      description: '', tags: [], created_at: isoSeconds(n.createdAt), updated_at: isoSeconds(n.updatedAt), revision_number: n.revision,
    });
    return v;
  };
  const subnetView = (sn: SubnetRec) => ({
    id: sn.id, name: sn.name, tenant_id: sn.projectId, network_id: sn.networkId, ip_version: 4, subnetpool_id: null,
    enable_dhcp: sn.enableDhcp, ipv6_ra_mode: null, ipv6_address_mode: null, gateway_ip: sn.gatewayIp, cidr: sn.cidr,
    allocation_pools: [sn.pool], host_routes: [], dns_nameservers: [], description: '', service_types: [], tags: [],
    created_at: isoSeconds(sn.createdAt), updated_at: isoSeconds(sn.createdAt), revision_number: 0, project_id: sn.projectId,
  });
  const visible = (n: NetworkRec, ctx: AuthContext) => ctx.isAdmin || n.shared || n.projectId === ctx.projectId;

  const v2 = Router();
  v2.use(authMiddleware(s, cloud.now), jsonBody(MAX_REQUEST_BODY));
  v2.get('/networks', (req, res) => {
    const ctx = auth(res);
    const name = qs(req, 'name');
    const project = qs(req, 'project_id') ?? qs(req, 'tenant_id');
    const list = [...s.networks.values()].filter((n) => visible(n, ctx) && (!name || n.name === name) && (!project || n.projectId === project));
    res.json({ networks: list.map((n) => netView(n, ctx)) });
  });
  v2.get('/networks/:id', (req, res) => {
    const ctx = auth(res);
    const n = s.networks.get(String(req.params['id']));
    if (!n || !visible(n, ctx)) return err(res, 404, `Network ${req.params['id']} could not be found.`, 'NetworkNotFound');
    res.json({ network: netView(n, ctx) });
  });
  v2.post('/networks', (req, res) => {
    const ctx = auth(res);
    const b = isRecord(req.body) && isRecord(req.body['network']) ? req.body['network'] : undefined;
    if (!b) return err(res, 400, 'Resource body required', 'HTTPBadRequest');
    const provider = Object.keys(b).filter((k) => k.startsWith('provider:'));
    if (!ctx.isAdmin && (provider.length || (b['project_id'] && b['project_id'] !== ctx.projectId))) {
      return err(res, 403, `(rule:create_network and ${provider.length ? `rule:create_network:${provider[0]}` : 'rule:create_network:project_id'}) is disallowed by policy`, 'PolicyNotAuthorized');
    }
    if (!provider.length && !cloud.tenantNetworks) {
      return err(res, 503, 'Unable to create the network. No tenant network is available for allocation.', 'NoNetworkAvailable');
    }
    const now = cloud.now();
    const type = typeof b['provider:network_type'] === 'string' ? b['provider:network_type'] : 'vxlan';
    const n: NetworkRec = {
      id: uuid(), name: typeof b['name'] === 'string' ? b['name'] : '',
      projectId: typeof b['project_id'] === 'string' ? b['project_id'] : typeof b['tenant_id'] === 'string' ? b['tenant_id'] : ctx.projectId,
      shared: b['shared'] === true, networkType: type,
      physicalNetwork: typeof b['provider:physical_network'] === 'string' ? b['provider:physical_network'] : null,
      segmentationId: type === 'vxlan' ? ++vni : null, subnets: [], createdAt: now, updatedAt: now, revision: 1,
    };
    s.networks.set(n.id, n);
    res.status(201).json({ network: netView(n, ctx) });
  });
  v2.delete('/networks/:id', (req, res) => {
    const ctx = auth(res);
    const n = s.networks.get(String(req.params['id']));
    if (!n || !visible(n, ctx)) return err(res, 404, `Network ${req.params['id']} could not be found.`, 'NetworkNotFound');
    if (!ctx.isAdmin && n.projectId !== ctx.projectId) return err(res, 403, 'delete_network is disallowed by policy', 'PolicyNotAuthorized');
    if ([...s.servers.values()].some((x) => x.networks.some((p) => p.networkId === n.id))) {
      return err(res, 409, `Unable to complete operation on network ${n.id}. There are one or more ports still in use on the network.`, 'NetworkInUse');
    }
    for (const sid of n.subnets) s.subnets.delete(sid);
    s.networks.delete(n.id);
    res.status(204).end();
  });
  v2.post('/subnets', (req, res) => {
    const ctx = auth(res);
    const b = isRecord(req.body) && isRecord(req.body['subnet']) ? req.body['subnet'] : undefined;
    if (!b) return err(res, 400, 'Resource body required', 'HTTPBadRequest');
    const networkId = typeof b['network_id'] === 'string' ? b['network_id'] : '';
    const n = s.networks.get(networkId);
    if (!n || !visible(n, ctx)) return err(res, 404, `Network ${networkId || pyRepr(b['network_id'] ?? null)} could not be found.`, 'NetworkNotFound');
    const cidr = typeof b['cidr'] === 'string' ? b['cidr'] : '';
    const m = CIDR.exec(cidr);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 30) {
      return err(res, 400, `Invalid input for cidr. Reason: ${pyRepr(b['cidr'] ?? null)} is not a valid IP subnet.`, 'HTTPBadRequest');
    }
    const prefix = `${m[1]}.${m[2]}.${m[3]}`;
    const sn: SubnetRec = {
      id: uuid(), name: typeof b['name'] === 'string' ? b['name'] : '', projectId: n.projectId, networkId: n.id,
      cidr, gatewayIp: `${prefix}.1`, enableDhcp: b['enable_dhcp'] !== false,
      pool: { start: `${prefix}.2`, end: `${prefix}.254` }, nextHost: 1, createdAt: cloud.now(),
    };
    s.subnets.set(sn.id, sn);
    n.subnets.push(sn.id);
    n.revision += 1;
    res.status(201).json({ subnet: subnetView(sn) });
  });
  v2.delete('/subnets/:id', (req, res) => {
    const sn = s.subnets.get(String(req.params['id']));
    if (!sn) return err(res, 404, `Subnet ${req.params['id']} could not be found.`, 'SubnetNotFound');
    s.subnets.delete(sn.id);
    const n = s.networks.get(sn.networkId);
    if (n) n.subnets = n.subnets.filter((id) => id !== sn.id);
    res.status(204).end();
  });

  r.use('/v2.0', v2);
  r.use(errorHandler('network'));
  return r;
}

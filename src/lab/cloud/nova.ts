import { type NextFunction, type Request, type Response, Router } from 'express';
import { jsonBody } from '../../shared/index.js';
import { compareMicroversions } from '../../openstack/index.js';
import type { Cloud } from './cloud.js';
import { pyRepr, pyStr, uuid } from './format.js';
import { auth, authMiddleware, errorHandler, isRecord, qs, sendError, MAX_REQUEST_BODY } from './http.js';
import { instanceUpdated } from './notifications.js';
import { at, flavorView, hypervisorView, serverLinks, serverView, serviceView } from './nova-views.js';
import type { ServerRec } from './state.js';

const VERSION_FORMAT = /^\d+\.\d+$/;
const VARY = 'OpenStack-API-Version, X-OpenStack-Nova-API-Version';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const err = (res: Response, status: number, message: string) => sendError(res, 'compute', status, message);
const mv = (res: Response) => res.locals['mv'] as string;

type JsonType = 'string' | 'integer' | 'null' | 'boolean';
const isType = (v: unknown, t: JsonType) =>
  t === 'string' ? typeof v === 'string' : t === 'integer' ? Number.isInteger(v) : t === 'null' ? v === null : typeof v === 'boolean';
/**
 * Nova's jsonschema type check of one body field: the message its validator writes (the field, the value,
 * then jsonschema's "X is not of type 'a', 'b'"), or undefined when the value has one of the types.
 */
function wrongType(field: string, value: unknown, types: JsonType[]): string | undefined {
  if (types.some((t) => isType(value, t))) return undefined;
  return `Invalid input for field/attribute ${field}. Value: ${pyStr(value)}. ${pyRepr(value)} is not of type ${types.map((t) => `'${t}'`).join(', ')}`;
}
/** Nova's flavor_param_positive / non_negative: an integer, or a string of digits. */
function flavorNumber(field: string, value: unknown): string | undefined {
  const type = wrongType(field, value, ['integer', 'string']);
  if (type) return type;
  if (typeof value === 'string' && !/^[0-9]*$/.test(value)) return `Invalid input for field/attribute ${field}. Value: ${pyStr(value)}. ${pyRepr(value)} does not match '^[0-9]*$'`;
  return undefined;
}

/** Nova's microversion handling: parse, 400 on a malformed version, 406 out of range, echo both headers. */
function microversions(cloud: Cloud) {
  return (req: Request, res: Response, next: NextFunction) => {
    const { min, max } = cloud.computeVersions;
    const modern = req.get('openstack-api-version');
    let requested = modern
      ?.split(',')
      .map((p) => p.trim().split(/\s+/))
      .find(([svc]) => svc?.toLowerCase() === 'compute')?.[1];
    requested ??= req.get('x-openstack-nova-api-version')?.trim();
    requested ??= min;
    if (requested.toLowerCase() === 'latest') requested = max;
    if (!VERSION_FORMAT.test(requested)) {
      err(res, 400, `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`);
      return;
    }
    res.setHeader('OpenStack-API-Version', `compute ${requested}`);
    res.setHeader('X-OpenStack-Nova-API-Version', requested);
    res.setHeader('Vary', VARY);
    if (compareMicroversions(requested, min) < 0 || compareMicroversions(requested, max) > 0) {
      err(res, 406, `Version ${requested} is not supported by the API. Minimum is ${min} and maximum is ${max}.`);
      return;
    }
    res.locals['mv'] = requested;
    next();
  };
}

function policy(rule: string) {
  return (_req: Request, res: Response, next: NextFunction) => {
    if (!auth(res).isAdmin) {
      err(res, 403, `Policy doesn't allow ${rule} to be performed.`);
      return;
    }
    next();
  };
}

/** 202/204 with Nova's JSON content type and no body. */
function empty(res: Response, status: number): void {
  res.status(status).setHeader('Content-Type', 'application/json');
  res.end();
}

export function novaRouter(cloud: Cloud): Router {
  const r = Router();
  const s = cloud.state;
  const versionEntry = () => ({
    id: 'v2.1', status: 'CURRENT', version: cloud.computeVersions.max, min_version: cloud.computeVersions.min,
    updated: '2013-07-23T11:33:21Z',
  });

  r.get('/', (_req, res) => {
    res.json({
      versions: [
        { id: 'v2.0', status: 'SUPPORTED', version: '', min_version: '', updated: '2011-01-21T11:33:21Z', links: [{ rel: 'self', href: `${cloud.baseUrl}/compute/v2/` }] },
        { ...versionEntry(), links: [{ rel: 'self', href: `${cloud.baseUrl}/compute/v2.1/` }] },
      ],
    });
  });
  r.get(['/v2.1', '/v2.1/'], microversions(cloud), (_req, res) => {
    res.json({
      version: {
        ...versionEntry(),
        links: [{ rel: 'self', href: `${cloud.baseUrl}/compute/v2.1/` }, { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' }],
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
      },
    });
  });

  const v = Router();
  v.use(authMiddleware(s, cloud.now), microversions(cloud), jsonBody(MAX_REQUEST_BODY));

  // --- flavors
  v.post('/flavors', policy('os_compute_api:os-flavor-manage:create'), (req, res) => {
    const f = isRecord(req.body) && isRecord(req.body['flavor']) ? req.body['flavor'] : undefined;
    const missing = ['name', 'ram', 'vcpus', 'disk'].find((k) => f?.[k] === undefined);
    if (!f || missing) return err(res, 400, `Invalid input for field/attribute flavor. Value: ${pyStr(f)}. '${missing ?? 'flavor'}' is a required property`);
    const bad = wrongType('name', f['name'], ['string']) ?? wrongType('id', f['id'] ?? null, ['string', 'null'])
      ?? ['ram', 'vcpus', 'disk', 'OS-FLV-EXT-DATA:ephemeral', 'swap'].map((k) => (f[k] === undefined ? undefined : flavorNumber(k, f[k]))).find(Boolean);
    if (bad) return err(res, 400, bad);
    const name = f['name'] as string;
    if ([...s.flavors.values()].some((x) => x.name === name)) return err(res, 409, `Flavor with name ${name} already exists.`);
    const id = typeof f['id'] === 'string' ? f['id'] : uuid();
    if (s.flavors.has(id)) return err(res, 409, `Flavor with ID ${id} already exists.`);
    const rec = {
      id, name, ram: Number(f['ram']), vcpus: Number(f['vcpus']), disk: Number(f['disk']),
      ephemeral: Number(f['OS-FLV-EXT-DATA:ephemeral'] ?? 0), swap: Number(f['swap'] ?? 0),
      isPublic: f['os-flavor-access:is_public'] !== false, seq: s.nextFlavorSeq(),
    };
    s.flavors.set(id, rec);
    res.json({ flavor: flavorView(cloud, rec, mv(res), true) });
  });
  v.get(['/flavors', '/flavors/detail'], (req, res) => {
    const detail = req.path.endsWith('/detail');
    res.json({ flavors: [...s.flavors.values()].map((f) => flavorView(cloud, f, mv(res), detail)) });
  });
  v.get('/flavors/:id', (req, res) => {
    const f = s.flavors.get(String(req.params['id']));
    if (!f) return err(res, 404, `Flavor ${req.params['id']} could not be found.`);
    res.json({ flavor: flavorView(cloud, f, mv(res), true) });
  });
  v.delete('/flavors/:id', policy('os_compute_api:os-flavor-manage:delete'), (req, res) => {
    if (!s.flavors.delete(String(req.params['id']))) return err(res, 404, `Flavor ${req.params['id']} could not be found.`);
    empty(res, 202);
  });

  // --- quotas
  const quotaView = (projectId: string, withId: boolean, mvNow: string) => {
    const q = s.quotaFor(projectId);
    const view: Record<string, unknown> = withId ? { id: projectId } : {};
    Object.assign(view, { cores: q.cores });
    if (!at(mvNow, '2.36')) Object.assign(view, { fixed_ips: -1, floating_ips: 10 });
    if (!at(mvNow, '2.57')) Object.assign(view, { injected_file_content_bytes: 10240, injected_file_path_bytes: 255, injected_files: 5 });
    Object.assign(view, { instances: q.instances, key_pairs: 100, metadata_items: 128, ram: q.ram });
    if (!at(mvNow, '2.36')) Object.assign(view, { security_group_rules: 20, security_groups: 10 });
    Object.assign(view, { server_group_members: 10, server_groups: 10 });
    return view;
  };
  v.get('/os-quota-sets/:project', (req, res) => {
    const project = String(req.params['project']);
    const ctx = auth(res);
    if (!ctx.isAdmin && ctx.projectId !== project) return err(res, 403, "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.");
    res.json({ quota_set: quotaView(project, true, mv(res)) });
  });
  v.put('/os-quota-sets/:project', policy('os_compute_api:os-quota-sets:update'), (req, res) => {
    const project = String(req.params['project']);
    const body = isRecord(req.body) && isRecord(req.body['quota_set']) ? req.body['quota_set'] : undefined;
    if (!body) return err(res, 400, `Invalid input for field/attribute quota_set. Value: ${pyStr(req.body)}. 'quota_set' is a required property`);
    const q = s.quotaFor(project);
    for (const key of ['instances', 'cores', 'ram'] as const) {
      const val = body[key];
      if (val === undefined) continue;
      if (typeof val !== 'number' || !Number.isInteger(val) || val < -1) {
        return err(res, 400, `Invalid input for field/attribute ${key}. Value: ${pyStr(val)}. ${pyRepr(val)} is not valid under any of the given schemas`);
      }
      q[key] = val;
    }
    s.quotas.set(project, q);
    res.json({ quota_set: quotaView(project, false, mv(res)) });
  });

  // --- servers
  v.post('/servers', (req, res) => createServer(cloud, req, res));
  v.get(['/servers', '/servers/detail'], (req, res) => {
    const ctx = auth(res);
    const detail = req.path.endsWith('/detail');
    const allTenants = ['1', 'true', 'True', ''].includes(qs(req, 'all_tenants') ?? 'x');
    if (allTenants && !ctx.isAdmin) return err(res, 403, `Policy doesn't allow os_compute_api:servers:${detail ? 'detail' : 'index'}:get_all_tenants to be performed.`);
    const host = ctx.isAdmin ? qs(req, 'host') : undefined; // silently ignored for others, as Nova does
    const name = qs(req, 'name');
    const nameRe = name ? safeRegExp(name) : undefined;
    // reservation_id: the servers of one multi-create, a filter every user may give (as Nova's).
    const reservation = qs(req, 'reservation_id');
    const page = pageOf(cloud, req, res, [...s.servers.values()]
      .filter((x) => (allTenants || x.projectId === ctx.projectId) && (!host || x.host === host) && (!nameRe || nameRe.test(x.name)) && (!reservation || x.reservationId === reservation))
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)), detail ? 'servers/detail' : 'servers');
    if (!page) return;
    res.json({
      servers: page.items.map((x) => (detail ? serverView(cloud, x, mv(res), ctx.isAdmin) : { id: x.id, name: x.name, links: serverLinks(cloud, x.id) })),
      ...(page.next ? { servers_links: [{ rel: 'next', href: page.next }] } : {}),
    });
  });
  const findServer = (req: Request, res: Response): ServerRec | undefined => {
    const id = String(req.params['id']);
    const x = s.servers.get(id);
    const ctx = auth(res);
    if (!x || (!ctx.isAdmin && x.projectId !== ctx.projectId)) {
      err(res, 404, `Instance ${id} could not be found.`);
      return undefined;
    }
    return x;
  };
  v.get('/servers/:id', (req, res) => {
    const x = findServer(req, res);
    if (x) res.json({ server: serverView(cloud, x, mv(res), auth(res).isAdmin) });
  });
  v.delete('/servers/:id', (req, res) => {
    const x = findServer(req, res);
    if (!x) return;
    s.servers.delete(x.id);
    empty(res, 204);
  });
  v.post('/servers/:id/action', (req, res) => {
    const x = findServer(req, res);
    if (!x) return;
    const body = isRecord(req.body) ? req.body : {};
    const action = Object.keys(body)[0];
    if (action !== 'os-resetState') return err(res, 404, `There is no such action: ${action ?? ''}`);
    if (!auth(res).isAdmin) return err(res, 403, "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.");
    const state = isRecord(body['os-resetState']) ? body['os-resetState']['state'] : undefined;
    if (state !== 'active' && state !== 'error') {
      return err(res, 400, `Invalid input for field/attribute state. Value: ${pyStr(state)}. ${pyRepr(state)} is not one of ['active', 'error']`);
    }
    const old = x.vmState;
    x.vmState = state;
    x.taskState = null;
    x.updatedAt = cloud.now();
    empty(res, 202);
    instanceUpdated(cloud, x, old, cloud.controllerHost);
  });

  // --- services
  v.get('/os-services', policy('os_compute_api:os-services:list'), (req, res) => {
    const host = qs(req, 'host');
    const binary = qs(req, 'binary');
    const list = [...s.services.values()].filter((x) => (!host || x.host === host) && (!binary || x.binary === binary));
    res.json({ services: list.map((x) => serviceView(x, mv(res), cloud.now())) });
  });
  v.put('/os-services/force-down', policy('os_compute_api:os-services:update'), (req, res) => {
    const body = isRecord(req.body) ? req.body : {};
    const version = mv(res);
    if (at(version, '2.53')) {
      const extra = Object.keys(body).filter((k) => !['status', 'disabled_reason', 'forced_down'].includes(k)).sort();
      if (extra.length) return err(res, 400, `Additional properties are not allowed (${extra.map((k) => pyRepr(k)).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
      return err(res, 400, 'Invalid uuid force-down');
    }
    if (!at(version, '2.11')) return err(res, 404, 'Unknown action');
    const missing = ['host', 'binary', 'forced_down'].find((k) => body[k] === undefined);
    if (missing) return err(res, 400, `Invalid input for field/attribute forced_down. Value: ${pyStr(body)}. '${missing}' is a required property`);
    const bad = wrongType('forced_down', body['forced_down'], ['boolean']) ?? wrongType('host', body['host'], ['string']) ?? wrongType('binary', body['binary'], ['string']);
    if (bad) return err(res, 400, bad);
    const svc = s.serviceByHost(body['host'] as string);
    if (!svc || body['binary'] !== svc.binary) return err(res, 404, `Service ${body['binary']} on host ${body['host']} not found.`);
    svc.forcedDown = body['forced_down'] as boolean;
    svc.updatedAt = cloud.now();
    res.json({ service: { host: svc.host, binary: svc.binary, forced_down: svc.forcedDown } });
  });
  v.put('/os-services/:id', policy('os_compute_api:os-services:update'), (req, res) => {
    const id = String(req.params['id']);
    if (!at(mv(res), '2.53')) return err(res, 404, 'Unknown action');
    const body = isRecord(req.body) ? req.body : {};
    const extra = Object.keys(body).filter((k) => !['status', 'disabled_reason', 'forced_down'].includes(k)).sort();
    if (extra.length) return err(res, 400, `Additional properties are not allowed (${extra.map((k) => pyRepr(k)).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
    if (!UUID.test(id)) return err(res, 400, `Invalid uuid ${id}`);
    const svc = s.services.get(id);
    if (!svc) return err(res, 404, `Service ${id} could not be found.`);
    const badDown = body['forced_down'] === undefined ? undefined : wrongType('forced_down', body['forced_down'], ['boolean']);
    if (badDown) return err(res, 400, badDown);
    if (body['status'] !== undefined && body['status'] !== 'enabled' && body['status'] !== 'disabled') {
      return err(res, 400, `Invalid input for field/attribute status. Value: ${pyStr(body['status'])}. ${pyRepr(body['status'])} is not one of ['enabled', 'disabled']`);
    }
    if (typeof body['forced_down'] === 'boolean') svc.forcedDown = body['forced_down'];
    if (body['status'] !== undefined) {
      svc.disabled = body['status'] === 'disabled';
      svc.disabledReason = svc.disabled && typeof body['disabled_reason'] === 'string' ? body['disabled_reason'] : null;
    }
    svc.updatedAt = cloud.now();
    res.json({ service: serviceView(svc, mv(res), cloud.now()) });
  });

  // --- hypervisors
  // From 2.33 both lists page as servers do (limit, marker = the hypervisor's id, hypervisors_links);
  // before, Nova answers every hypervisor and ignores limit and marker.
  const hypervisors = (req: Request, res: Response, detail: boolean) => {
    const views = [...s.services.values()].sort((a, b) => a.hypervisorLegacyId - b.hypervisorLegacyId).map((x) => {
      const h = hypervisorView(cloud, x, mv(res));
      return { id: String(h['id']), view: detail ? h : { id: h['id'], hypervisor_hostname: h['hypervisor_hostname'], state: h['state'], status: h['status'] } };
    });
    const page = at(mv(res), '2.33') ? pageOf(cloud, req, res, views, detail ? 'os-hypervisors/detail' : 'os-hypervisors') : { items: views };
    if (!page) return;
    res.json({ hypervisors: page.items.map((x) => x.view), ...(page.next ? { hypervisors_links: [{ rel: 'next', href: page.next }] } : {}) });
  };
  v.get('/os-hypervisors/detail', policy('os_compute_api:os-hypervisors:list-detail'), (req, res) => hypervisors(req, res, true));
  v.get('/os-hypervisors', policy('os_compute_api:os-hypervisors:list'), (req, res) => hypervisors(req, res, false));

  r.use('/v2.1', v);
  r.use(errorHandler('compute'));
  return r;
}

function createServer(cloud: Cloud, req: Request, res: Response): void {
  const s = cloud.state;
  const ctx = auth(res);
  const version = mv(res);
  const body = isRecord(req.body) && isRecord(req.body['server']) ? req.body['server'] : undefined;
  const invalid = (what: string) => err(res, 400, `Invalid input for field/attribute server. Value: ${pyStr(body)}. ${what}`);
  if (!body) return err(res, 400, `Invalid input for field/attribute server. Value: ${pyStr(req.body)}. 'server' is a required property`);
  for (const key of ['name', 'flavorRef']) if (body[key] === undefined) return invalid(`'${key}' is a required property`);
  if (at(version, '2.37') && body['networks'] === undefined) return invalid("'networks' is a required property");
  const name = body['name'];
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255) return err(res, 400, `Invalid input for field/attribute name. Value: ${pyStr(name)}. ${pyRepr(name)} does not match '^(?! )[^\\x00-\\x1F\\x7F]*(?<! )$'`);

  // Multi-create: min_count defaults to 1, max_count to min_count (Nova's servers API).
  for (const key of ['min_count', 'max_count'] as const) {
    const v = body[key];
    if (v === undefined) continue;
    const bad = flavorNumber(key, v);
    if (bad) return err(res, 400, bad);
    if (typeof v === 'number' && v < 1) return err(res, 400, `Invalid input for field/attribute ${key}. Value: ${pyStr(v)}. ${pyRepr(v)} is less than the minimum of 1`); // jsonschema's minimum: numbers only
  }
  const minCount = body['min_count'] === undefined ? 1 : Number(body['min_count']);
  const maxCount = body['max_count'] === undefined ? minCount : Number(body['max_count']);
  if (minCount > maxCount) return err(res, 400, 'min_count must be <= max_count');
  const bad = wrongType('flavorRef', body['flavorRef'], ['string', 'integer']) ?? (body['imageRef'] === undefined ? undefined : wrongType('imageRef', body['imageRef'], ['string']));
  if (bad) return err(res, 400, bad);
  const flavorId = String(body['flavorRef']).replace(/^.*\/flavors\//, '');
  const flavor = s.flavors.get(flavorId);
  if (!flavor) return err(res, 400, `Flavor ${flavorId} could not be found.`);
  const imageId = String(body['imageRef'] ?? '').replace(/^.*\/images\//, '');
  const image = s.images.get(imageId);
  if (!image || (image.visibility !== 'public' && image.owner !== ctx.projectId)) return err(res, 400, `Image ${imageId} could not be found.`);
  if (image.status !== 'active') return err(res, 400, `Image ${imageId} is not active.`);

  const nets: Array<{ id: string; subnet: Parameters<typeof nextAddress>[0] | undefined }> = [];
  const requested = body['networks'];
  if (Array.isArray(requested)) {
    for (const n of requested) {
      const id = isRecord(n) && typeof n['uuid'] === 'string' ? n['uuid'] : '';
      const net = s.networks.get(id);
      if (!net || (net.projectId !== ctx.projectId && !net.shared && !ctx.isAdmin)) return err(res, 400, `Network ${id} could not be found.`);
      nets.push({ id: net.id, subnet: net.subnets.map((sid) => s.subnets.get(sid)).find(Boolean) });
    }
  } else if (requested !== undefined && requested !== 'none' && requested !== 'auto') {
    return invalid(`${pyRepr(requested)} is not valid under any of the given schemas`);
  }
  /** A port on each requested network: its next address. */
  const portsOf = (): ServerRec['networks'] => nets.map((n) => ({ networkId: n.id, addr: n.subnet ? nextAddress(n.subnet) : '' }));

  let forcedHost: string | undefined;
  let zone = 'nova';
  if (typeof body['availability_zone'] === 'string' && body['availability_zone']) {
    const [az, host] = body['availability_zone'].split(':');
    zone = az || 'nova';
    if (host) {
      if (!ctx.isAdmin) return err(res, 403, "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.");
      if (!s.serviceByHost(host)) return err(res, 400, `Compute host ${host} could not be found.`);
      forcedHost = host;
    }
  }

  const allowed = instancesAllowed(cloud, ctx.projectId, flavor, minCount, maxCount);
  if (typeof allowed === 'string') return err(res, 403, allowed);

  const now = cloud.now();
  const reservationId = `r-${uuid().slice(0, 8)}`;
  const servers = Array.from({ length: allowed }, (_, i): ServerRec => ({
    id: uuid(), name: allowed > 1 ? `${name}-${i + 1}` : name, projectId: ctx.projectId, userId: ctx.user.id, imageId, flavorId, host: undefined,
    vmState: 'building', taskState: 'scheduling', powerState: 0, networks: portsOf(),
    createdAt: now, updatedAt: now, launchedAt: undefined, instanceNumber: s.nextInstanceNumber(), reservationId, availabilityZone: zone,
  }));
  for (const server of servers) s.servers.set(server.id, server);
  if (body['return_reservation_id'] === true || body['return_reservation_id'] === 'true' || body['return_reservation_id'] === 'True') {
    res.status(202).json({ reservation_id: reservationId });
  } else {
    const first = servers[0]!;
    res.status(202).setHeader('location', `${cloud.baseUrl}/compute/v2.1/servers/${first.id}`);
    res.json({
      server: {
        id: first.id,
        links: serverLinks(cloud, first.id),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: [{ name: 'default' }],
        adminPass: uuid().replace(/-/g, '').slice(0, 12),
      },
    });
  }
  for (const server of servers) build(cloud, server, forcedHost);
}

/**
 * How many of min..max instances the project's quotas allow (instances, cores, ram), as Nova's
 * check_num_instances_quota decides: as many as fit when at least min do, else its TooManyInstances message.
 */
function instancesAllowed(cloud: Cloud, projectId: string, flavor: { vcpus: number; ram: number }, min: number, max: number): number | string {
  const s = cloud.state;
  const quota = s.quotaFor(projectId);
  const mine = [...s.servers.values()].filter((x) => x.projectId === projectId);
  const usage = { instances: mine.length, cores: 0, ram: 0 };
  for (const x of mine) {
    const f = s.flavors.get(x.flavorId);
    usage.cores += f?.vcpus ?? 0;
    usage.ram += f?.ram ?? 0;
  }
  const per = { instances: 1, cores: flavor.vcpus, ram: flavor.ram };
  const keys = ['cores', 'instances', 'ram'] as const; // Nova sorts the resources over quota
  const overs = keys.filter((k) => quota[k] >= 0 && usage[k] + max * per[k] > quota[k]);
  if (!overs.length) return max;
  const headroom = (k: (typeof keys)[number]) => (quota[k] < 0 ? Infinity : quota[k] - usage[k]);
  const fits = Math.min(headroom('instances'), ...(['cores', 'ram'] as const).filter((k) => per[k] > 0).map((k) => Math.floor(headroom(k) / per[k])));
  if (fits >= min && fits <= max) return fits;
  const requested = { instances: min === max ? String(min) : `${min}-${max}`, cores: String(max * per.cores), ram: String(max * per.ram) };
  const list = (f: (k: (typeof keys)[number]) => string) => overs.map(f).join(', ');
  return `Quota exceeded for ${overs.join(', ')}: Requested ${list((k) => requested[k])}, but already used ${list((k) => String(usage[k]))} of ${list((k) => String(quota[k]))} ${overs.join(', ')}`;
}

/** BUILD → ACTIVE on a host after the build delay (ERROR when no host can take it). */
function build(cloud: Cloud, server: ServerRec, forcedHost: string | undefined): void {
  const s = cloud.state;
  cloud.later(cloud.buildDelayMs, () => {
    if (s.servers.get(server.id) !== server || server.vmState !== 'building') return;
    const svc = forcedHost ? s.serviceByHost(forcedHost) : s.pickHost();
    server.updatedAt = cloud.now();
    server.taskState = null;
    if (!svc || svc.forcedDown || svc.disabled) {
      server.vmState = 'error';
      instanceUpdated(cloud, server, 'building', cloud.controllerHost);
      return;
    }
    server.host = svc.host;
    server.vmState = 'active';
    server.powerState = 1;
    server.launchedAt = cloud.now();
    instanceUpdated(cloud, server, 'building', svc.host);
  });
}

function nextAddress(subnet: { cidr: string; nextHost: number }): string {
  const [base] = subnet.cidr.split('/');
  const octets = (base ?? '0.0.0.0').split('.').map(Number);
  subnet.nextHost += 1;
  const n = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) + subnet.nextHost;
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function safeRegExp(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern);
  } catch {
    return undefined;
  }
}


/**
 * Nova's paging of a list (nova.api.openstack.common): at most `max_limit` items, fewer with `limit`
 * (0: no limit at all, as Nova's cell lister treats it), after the one named by `marker`; a `next` link
 * with every query parameter and the last item's id as marker when the page is full. A bad limit or an
 * unknown marker is Nova's 400; undefined: already answered.
 */
function pageOf<T extends { id: string }>(cloud: Cloud, req: Request, res: Response, all: T[], collection: string): { items: T[]; next?: string } | undefined {
  const limitQ = qs(req, 'limit');
  if (limitQ !== undefined && !/^[0-9]+$/.test(limitQ)) {
    err(res, 400, `Invalid input for query parameters limit. Value: ${limitQ}. '${limitQ}' does not match '^[0-9]*$'`);
    return undefined;
  }
  const marker = qs(req, 'marker');
  let from = 0;
  if (marker !== undefined) {
    from = all.findIndex((x) => x.id === marker) + 1;
    if (from === 0) {
      err(res, 400, `marker [${marker}] not found`);
      return undefined;
    }
  }
  const full = Math.min(limitQ === undefined ? cloud.maxLimit : Number(limitQ), cloud.maxLimit); // 0: no limit, and no link
  const items = all.slice(from, full === 0 ? undefined : from + full);
  if (!full || items.length !== full) return { items };
  const params = new URLSearchParams(Object.entries({ ...Object.fromEntries(new URL(req.originalUrl, 'http://x').searchParams), marker: items.at(-1)!.id }).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { items, next: `${cloud.baseUrl}/compute/v2.1/${collection}?${params.toString()}` };
}

import { type Request, type Response, Router } from 'express';
import { jsonBody } from '../../shared/index.js';
import type { Cloud } from './cloud.js';
import { hexId, keystoneTime } from './format.js';
import { auth, authMiddleware, errorHandler, isRecord, qs, resolveToken, sendError, sendUnauthorized, MAX_REQUEST_BODY } from './http.js';
import type { ProjectRec, UserRec } from './state.js';

const VERSION = {
  id: 'v3.14',
  status: 'stable',
  updated: '2020-04-07T00:00:00Z',
  'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
};

/** Keystone v3 subset: password tokens with a catalog, projects, users, roles, assignments. */
export function keystoneRouter(cloud: Cloud): Router {
  const r = Router();
  const s = cloud.state;
  const v3 = () => `${cloud.baseUrl}/identity/v3`;
  const versionDoc = () => ({ ...VERSION, links: [{ rel: 'self', href: `${v3()}/` }] });

  r.get('/', (_req, res) => {
    res.status(300).setHeader('Location', `${v3()}/`);
    res.json({ versions: { values: [versionDoc()] } });
  });
  r.get(['/v3', '/v3/'], (_req, res) => {
    res.json({ version: versionDoc() });
  });

  r.post('/v3/auth/tokens', jsonBody(MAX_REQUEST_BODY), (req, res) => issueToken(cloud, req, res));

  const authed = Router();
  authed.use(authMiddleware(s, cloud.now));
  const admin = (action: string) => (_req: Request, res: Response, next: () => void) => {
    if (!auth(res).isAdmin) {
      sendError(res, 'identity', 403, `You are not authorized to perform the requested action: identity:${action}.`);
      return;
    }
    next();
  };

  authed.get('/auth/tokens', (req, res) => {
    const ctx = resolveToken(s, req.get('x-subject-token'), cloud.now());
    if (!ctx) {
      sendError(res, 'identity', 404, `Could not find token: ${req.get('x-subject-token') ?? ''}.`);
      return;
    }
    res.setHeader('X-Subject-Token', ctx.token.value);
    res.json({ token: tokenBody(cloud, ctx.token.value) });
  });

  const projectView = (p: ProjectRec) => ({
    id: p.id, name: p.name, domain_id: p.domainId, description: p.description, enabled: p.enabled,
    parent_id: p.domainId, is_domain: false, tags: [], options: {}, links: { self: `${v3()}/projects/${p.id}` },
  });
  const userView = (u: UserRec) => ({
    id: u.id, name: u.name, domain_id: u.domainId, enabled: u.enabled,
    ...(u.defaultProjectId ? { default_project_id: u.defaultProjectId } : {}),
    password_expires_at: null, options: {}, links: { self: `${v3()}/users/${u.id}` },
  });
  const listLinks = (req: Request) => ({ next: null, self: `${v3()}${req.originalUrl.replace(/^.*?\/v3/, '')}`, previous: null });

  authed.get('/projects', admin('list_projects'), (req, res) => {
    const name = qs(req, 'name');
    const domain = qs(req, 'domain_id');
    const projects = [...s.projects.values()].filter((p) => (!name || p.name === name) && (!domain || p.domainId === domain));
    res.json({ projects: projects.map(projectView), links: listLinks(req) });
  });
  authed.post('/projects', admin('create_project'), (req, res) => {
    const body = isRecord(req.body) && isRecord(req.body['project']) ? req.body['project'] : undefined;
    if (!body || typeof body['name'] !== 'string' || !body['name']) {
      sendError(res, 'identity', 400, "Invalid input for field 'name': 'name' is a required property");
      return;
    }
    const domainId = typeof body['domain_id'] === 'string' ? body['domain_id'] : 'default';
    const name = body['name'];
    if ([...s.projects.values()].some((p) => p.name === name && p.domainId === domainId)) {
      sendError(res, 'identity', 409, `Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${name}.`);
      return;
    }
    const p = s.addProject(name, typeof body['description'] === 'string' ? body['description'] : '', domainId);
    if (body['enabled'] === false) p.enabled = false;
    res.status(201).json({ project: projectView(p) });
  });
  authed.get('/projects/:id', admin('get_project'), (req, res) => {
    const p = s.projects.get(String(req.params['id']));
    if (!p) return void sendError(res, 'identity', 404, `Could not find project: ${req.params['id']}.`);
    res.json({ project: projectView(p) });
  });
  authed.delete('/projects/:id', admin('delete_project'), (req, res) => {
    const id = String(req.params['id']);
    if (!s.projects.delete(id)) return void sendError(res, 'identity', 404, `Could not find project: ${id}.`);
    for (const key of [...s.assignments.keys()]) if (key.startsWith(`${id}:`)) s.assignments.delete(key);
    for (const [value, t] of s.tokens) if (t.projectId === id) s.tokens.delete(value);
    res.status(204).end();
  });

  authed.get('/users', admin('list_users'), (req, res) => {
    const name = qs(req, 'name');
    const domain = qs(req, 'domain_id');
    const users = [...s.users.values()].filter((u) => (!name || u.name === name) && (!domain || u.domainId === domain));
    res.json({ users: users.map(userView), links: listLinks(req) });
  });
  authed.post('/users', admin('create_user'), (req, res) => {
    const body = isRecord(req.body) && isRecord(req.body['user']) ? req.body['user'] : undefined;
    if (!body || typeof body['name'] !== 'string' || !body['name']) {
      sendError(res, 'identity', 400, "Invalid input for field 'name': 'name' is a required property");
      return;
    }
    const domainId = typeof body['domain_id'] === 'string' ? body['domain_id'] : 'default';
    const name = body['name'];
    if ([...s.users.values()].some((u) => u.name === name && u.domainId === domainId)) {
      sendError(res, 'identity', 409, `Conflict occurred attempting to store user - Duplicate entry found with name ${name} at domain ID ${domainId}.`);
      return;
    }
    const project = typeof body['default_project_id'] === 'string' ? body['default_project_id'] : undefined;
    const u = s.addUser(name, typeof body['password'] === 'string' ? body['password'] : '', project, domainId);
    res.status(201).json({ user: userView(u) });
  });
  authed.get('/users/:id', admin('get_user'), (req, res) => {
    const u = s.users.get(String(req.params['id']));
    if (!u) return void sendError(res, 'identity', 404, `Could not find user: ${req.params['id']}.`);
    res.json({ user: userView(u) });
  });
  authed.delete('/users/:id', admin('delete_user'), (req, res) => {
    const id = String(req.params['id']);
    if (!s.users.delete(id)) return void sendError(res, 'identity', 404, `Could not find user: ${id}.`);
    for (const key of [...s.assignments.keys()]) if (key.endsWith(`:${id}`)) s.assignments.delete(key);
    for (const [value, t] of s.tokens) if (t.userId === id) s.tokens.delete(value);
    res.status(204).end();
  });

  authed.get('/roles', (req, res) => {
    const name = qs(req, 'name');
    const roles = [...s.roles.values()].filter((role) => !name || role.name === name);
    res.json({
      roles: roles.map((role) => ({
        id: role.id, name: role.name, domain_id: null, description: null,
        options: ['admin', 'member', 'reader'].includes(role.name) ? { immutable: true } : {},
        links: { self: `${v3()}/roles/${role.id}` },
      })),
      links: listLinks(req),
    });
  });

  const grantPath = '/projects/:p/users/:u/roles/:r';
  const findGrant = (req: Request, res: Response) => {
    const [p, u, role] = [String(req.params['p']), String(req.params['u']), String(req.params['r'])];
    if (!s.projects.has(p)) return void sendError(res, 'identity', 404, `Could not find project: ${p}.`);
    if (!s.users.has(u)) return void sendError(res, 'identity', 404, `Could not find user: ${u}.`);
    if (!s.roles.has(role)) return void sendError(res, 'identity', 404, `Could not find role: ${role}.`);
    return { p, u, role };
  };
  authed.put(grantPath, admin('create_grant'), (req, res) => {
    const g = findGrant(req, res);
    if (!g) return;
    s.assign(g.p, g.u, g.role);
    res.status(204).end();
  });
  authed.head(grantPath, admin('check_grant'), (req, res) => {
    const g = findGrant(req, res);
    if (!g) return;
    res.status(s.assignments.get(`${g.p}:${g.u}`)?.has(g.role) ? 204 : 404).end();
  });
  authed.delete(grantPath, admin('revoke_grant'), (req, res) => {
    const g = findGrant(req, res);
    if (!g) return;
    const set = s.assignments.get(`${g.p}:${g.u}`);
    if (!set?.delete(g.role)) return void sendError(res, 'identity', 404, `Could not find role assignment with role: ${g.role}, user or group: ${g.u}, project, domain, or system: ${g.p}.`);
    res.status(204).end();
  });
  authed.get('/role_assignments', admin('list_role_assignments'), (req, res) => {
    const user = qs(req, 'user.id');
    const project = qs(req, 'scope.project.id');
    const out: unknown[] = [];
    for (const [key, roles] of s.assignments) {
      const [p, u] = key.split(':') as [string, string];
      if ((user && u !== user) || (project && p !== project)) continue;
      for (const role of roles) {
        out.push({
          role: { id: role }, user: { id: u }, scope: { project: { id: p } },
          links: { assignment: `${v3()}/projects/${p}/users/${u}/roles/${role}` },
        });
      }
    }
    res.json({ role_assignments: out, links: listLinks(req) });
  });

  r.use('/v3', jsonBody(MAX_REQUEST_BODY), authed);
  r.use(errorHandler('identity'));
  return r;
}

function issueToken(cloud: Cloud, req: Request, res: Response): void {
  const s = cloud.state;
  const a = isRecord(req.body) && isRecord(req.body['auth']) ? req.body['auth'] : undefined;
  const identity = a && isRecord(a['identity']) ? a['identity'] : undefined;
  const methods = identity?.['methods'];
  if (!identity || !Array.isArray(methods)) {
    sendError(res, 'identity', 400, "Invalid input for field 'identity': 'methods' is a required property");
    return;
  }
  if (!methods.includes('password')) {
    sendError(res, 'identity', 401, 'The request you have made requires authentication.');
    return;
  }
  const pw = isRecord(identity['password']) && isRecord(identity['password']['user']) ? identity['password']['user'] : {};
  const domainOf = (d: unknown): ((id: string, name: string) => boolean) => {
    if (!isRecord(d)) return () => false;
    return (id, name) => (d['id'] !== undefined ? d['id'] === id : d['name'] === name || (d['name'] === 'Default' && id === 'default'));
  };
  const userDomain = domainOf(pw['domain']);
  const user = [...s.users.values()].find((u) =>
    pw['id'] !== undefined ? u.id === pw['id'] : u.name === pw['name'] && userDomain(u.domainId, u.domainId === 'default' ? 'Default' : u.domainId),
  );
  if (!user || !user.enabled || user.password !== pw['password']) {
    sendUnauthorized(res);
    return;
  }
  let projectId: string | undefined;
  const scope = isRecord(a?.['scope']) ? a['scope'] : undefined;
  if (scope) {
    const sp = isRecord(scope['project']) ? scope['project'] : undefined;
    const projectDomain = domainOf(sp?.['domain']);
    const project = sp
      ? [...s.projects.values()].find((p) =>
          sp['id'] !== undefined ? p.id === sp['id'] : p.name === sp['name'] && projectDomain(p.domainId, p.domainId === 'default' ? 'Default' : p.domainId),
        )
      : undefined;
    if (!project || !project.enabled || s.effectiveRoles(project.id, user.id).length === 0) {
      sendUnauthorized(res);
      return;
    }
    projectId = project.id;
  }
  const token = cloud.issueToken(user.id, projectId);
  res.status(201).setHeader('X-Subject-Token', token.value);
  res.json({ token: tokenBody(cloud, token.value) });
}

function tokenBody(cloud: Cloud, value: string): Record<string, unknown> {
  const s = cloud.state;
  const t = s.tokens.get(value)!;
  const user = s.users.get(t.userId)!;
  const body: Record<string, unknown> = {
    methods: ['password'],
    user: { domain: { id: user.domainId, name: user.domainId === 'default' ? 'Default' : user.domainId }, id: user.id, name: user.name, password_expires_at: null },
    audit_ids: [t.auditId],
    expires_at: keystoneTime(t.expiresAt),
    issued_at: keystoneTime(t.issuedAt),
  };
  const project = t.projectId ? s.projects.get(t.projectId) : undefined;
  if (project) {
    body['project'] = { domain: { id: project.domainId, name: project.domainId === 'default' ? 'Default' : project.domainId }, id: project.id, name: project.name };
    body['is_domain'] = false;
    body['roles'] = t.roles.map((name) => ({ id: s.roleByName(name)?.id ?? name, name }));
    body['catalog'] = catalog(cloud);
  }
  return body;
}

const SERVICE_NAMES = { alarming: 'aodh', compute: 'nova', image: 'glance', identity: 'keystone', network: 'neutron' } as const;
const catalogIds = new WeakMap<Cloud, Record<string, { id: string; endpoints: string[] }>>();

function catalog(cloud: Cloud): unknown[] {
  let ids = catalogIds.get(cloud);
  if (!ids) {
    ids = Object.fromEntries(Object.keys(SERVICE_NAMES).map((k) => [k, { id: hexId(), endpoints: [hexId(), hexId(), hexId()] }]));
    catalogIds.set(cloud, ids);
  }
  return (Object.keys(SERVICE_NAMES) as Array<keyof typeof SERVICE_NAMES>).map((type) => ({
    endpoints: ['public', 'admin', 'internal'].map((iface, i) => ({
      id: ids[type]!.endpoints[i], interface: iface, region_id: cloud.region, url: cloud.serviceUrl(type), region: cloud.region,
    })),
    id: ids[type]!.id,
    type,
    name: SERVICE_NAMES[type],
  }));
}

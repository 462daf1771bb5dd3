import { NotFoundError } from '../shared/index.js';
import type { Session } from './session.js';

export interface Project {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
}
export interface User {
  id: string;
  name: string;
  domainId: string;
  defaultProjectId?: string;
}
export interface Role {
  id: string;
  name: string;
}
export interface RoleAssignment {
  roleId: string;
  userId: string;
  projectId: string;
}

interface WireProject {
  id: string;
  name: string;
  domain_id: string;
  enabled: boolean;
}
interface WireUser {
  id: string;
  name: string;
  domain_id: string;
  default_project_id?: string;
}

const project = (p: WireProject): Project => ({ id: p.id, name: p.name, domainId: p.domain_id, enabled: p.enabled });
const user = (u: WireUser): User => ({
  id: u.id,
  name: u.name,
  domainId: u.domain_id,
  ...(u.default_project_id ? { defaultProjectId: u.default_project_id } : {}),
});

/** Keystone v3: projects, users, roles, role assignments. */
export class IdentityClient {
  constructor(private readonly s: Session) {}

  async findProject(name: string, domainId?: string): Promise<Project | undefined> {
    const r = await this.s.request<{ projects: WireProject[] }>({
      service: 'identity', method: 'GET', path: '/projects', query: { name, domain_id: domainId },
    });
    return r.data.projects.map(project)[0];
  }

  async createProject(input: { name: string; description?: string; domainId?: string }): Promise<Project> {
    const r = await this.s.request<{ project: WireProject }>({
      service: 'identity', method: 'POST', path: '/projects',
      body: { project: { name: input.name, description: input.description ?? '', domain_id: input.domainId ?? 'default', enabled: true } },
    });
    return project(r.data.project);
  }

  async deleteProject(id: string): Promise<void> {
    await this.s.request({ service: 'identity', method: 'DELETE', path: `/projects/${enc(id)}` });
  }

  async findUser(name: string, domainId?: string): Promise<User | undefined> {
    const r = await this.s.request<{ users: WireUser[] }>({
      service: 'identity', method: 'GET', path: '/users', query: { name, domain_id: domainId },
    });
    return r.data.users.map(user)[0];
  }

  async createUser(input: { name: string; password: string; defaultProjectId?: string; domainId?: string }): Promise<User> {
    const r = await this.s.request<{ user: WireUser }>({
      service: 'identity', method: 'POST', path: '/users',
      body: {
        user: {
          name: input.name,
          password: input.password,
          domain_id: input.domainId ?? 'default',
          enabled: true,
          ...(input.defaultProjectId ? { default_project_id: input.defaultProjectId } : {}),
        },
      },
    });
    return user(r.data.user);
  }

  async deleteUser(id: string): Promise<void> {
    await this.s.request({ service: 'identity', method: 'DELETE', path: `/users/${enc(id)}` });
  }

  async findRole(name: string): Promise<Role | undefined> {
    const r = await this.s.request<{ roles: Role[] }>({ service: 'identity', method: 'GET', path: '/roles', query: { name } });
    const role = r.data.roles[0];
    return role ? { id: role.id, name: role.name } : undefined;
  }

  /** The first role that exists among `names` (e.g. member, then _member_). */
  async findFirstRole(names: string[]): Promise<Role | undefined> {
    for (const name of names) {
      const role = await this.findRole(name);
      if (role) return role;
    }
    return undefined;
  }

  async assignProjectRole(projectId: string, userId: string, roleId: string): Promise<void> {
    await this.s.request({ service: 'identity', method: 'PUT', path: `/projects/${enc(projectId)}/users/${enc(userId)}/roles/${enc(roleId)}` });
  }

  async hasProjectRole(projectId: string, userId: string, roleId: string): Promise<boolean> {
    try {
      await this.s.request({ service: 'identity', method: 'HEAD', path: `/projects/${enc(projectId)}/users/${enc(userId)}/roles/${enc(roleId)}` });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** A catalog service by type (the first one), for registering endpoints. */
  async findService(type: string): Promise<CatalogService | undefined> {
    const r = await this.s.request<{ services: CatalogService[] }>({ service: 'identity', method: 'GET', path: '/services', query: { type } });
    const svc = r.data.services[0];
    return svc ? { id: svc.id, type: svc.type, name: svc.name } : undefined;
  }

  async createService(input: { type: string; name: string; description?: string }): Promise<CatalogService> {
    const r = await this.s.request<{ service: CatalogService }>({
      service: 'identity', method: 'POST', path: '/services', body: { service: { ...input, enabled: true } },
    });
    return { id: r.data.service.id, type: r.data.service.type, name: r.data.service.name };
  }

  async createEndpoint(input: { serviceId: string; interface: 'public' | 'internal' | 'admin'; url: string; regionId?: string }): Promise<string> {
    const r = await this.s.request<{ endpoint: { id: string } }>({
      service: 'identity', method: 'POST', path: '/endpoints',
      body: { endpoint: { service_id: input.serviceId, interface: input.interface, url: input.url, region_id: input.regionId ?? 'RegionOne', enabled: true } },
    });
    return r.data.endpoint.id;
  }

  async listRoleAssignments(filter: { userId?: string; projectId?: string }): Promise<RoleAssignment[]> {
    const r = await this.s.request<{ role_assignments: Array<{ role: { id: string }; user?: { id: string }; scope?: { project?: { id: string } } }> }>({
      service: 'identity', method: 'GET', path: '/role_assignments',
      query: { 'user.id': filter.userId, 'scope.project.id': filter.projectId },
    });
    return r.data.role_assignments
      .filter((a) => a.user && a.scope?.project)
      .map((a) => ({ roleId: a.role.id, userId: a.user!.id, projectId: a.scope!.project!.id }));
  }
}

export interface CatalogService {
  id: string;
  type: string;
  name: string;
}

export const enc = encodeURIComponent;

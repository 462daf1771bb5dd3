import { hexId, uuid } from './format.js';

/** In-memory records of the simulated cloud. Wire shapes are built by the views. */

export interface ComputeHostSpec {
  name: string;
  ip: string;
}

export interface ProjectRec {
  id: string;
  name: string;
  domainId: string;
  description: string;
  enabled: boolean;
}
export interface UserRec {
  id: string;
  name: string;
  domainId: string;
  password: string;
  defaultProjectId?: string;
  enabled: boolean;
}
export interface RoleRec {
  id: string;
  name: string;
}
export interface TokenRec {
  value: string;
  userId: string;
  projectId: string | undefined;
  roles: string[];
  issuedAt: number;
  expiresAt: number;
  auditId: string;
}
export interface ImageRec {
  id: string;
  name: string;
  diskFormat: string | null;
  containerFormat: string | null;
  visibility: string;
  status: 'queued' | 'active';
  size: number | null;
  checksum: string | null;
  hashValue: string | null;
  owner: string;
  protected: boolean;
  createdAt: number;
  updatedAt: number;
}
export interface FlavorRec {
  id: string;
  name: string;
  ram: number;
  vcpus: number;
  disk: number;
  ephemeral: number;
  swap: number;
  isPublic: boolean;
  seq: number;
}
export interface ServiceRec {
  legacyId: number;
  uuid: string;
  host: string;
  ip: string;
  binary: 'nova-compute';
  zone: string;
  disabled: boolean;
  disabledReason: string | null;
  forcedDown: boolean;
  updatedAt: number;
  hypervisorLegacyId: number;
  hypervisorUuid: string;
}
export interface ServerRec {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  imageId: string;
  flavorId: string;
  host: string | undefined;
  vmState: 'building' | 'active' | 'error' | 'deleted';
  taskState: string | null;
  powerState: number;
  networks: Array<{ networkId: string; addr: string }>;
  createdAt: number;
  updatedAt: number;
  launchedAt: number | undefined;
  instanceNumber: number;
  reservationId: string;
  availabilityZone: string;
}
export interface NetworkRec {
  id: string;
  name: string;
  projectId: string;
  shared: boolean;
  networkType: string;
  physicalNetwork: string | null;
  segmentationId: number | null;
  subnets: string[];
  createdAt: number;
  updatedAt: number;
  revision: number;
}
export interface SubnetRec {
  id: string;
  name: string;
  projectId: string;
  networkId: string;
  cidr: string;
  gatewayIp: string;
  enableDhcp: boolean;
  pool: { start: string; end: string };
  nextHost: number;
  createdAt: number;
}
export interface AlarmRec {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  type: 'event';
  severity: string;
  projectId: string;
  userId: string;
  alarmActions: string[];
  okActions: string[];
  insufficientDataActions: string[];
  repeatActions: boolean;
  eventType: string;
  query: Array<{ field: string; op: string; value: string; type: string }>;
  state: string;
  stateReason: string;
  timestamp: string;
  stateTimestamp: string;
  evaluateTimestamp: string;
}
export interface AlarmHistoryRec {
  eventId: string;
  alarmId: string;
  type: string;
  detail: string;
  projectId: string | null;
  userId: string | null;
  onBehalfOf: string;
  timestamp: string;
}
export interface QuotaRec {
  instances: number;
  cores: number;
  ram: number;
}

export const DEFAULT_QUOTA: QuotaRec = { instances: 10, cores: 20, ram: 51200 };

export class CloudState {
  readonly projects = new Map<string, ProjectRec>();
  readonly users = new Map<string, UserRec>();
  readonly roles = new Map<string, RoleRec>();
  /** `${projectId}:${userId}` → role ids */
  readonly assignments = new Map<string, Set<string>>();
  readonly tokens = new Map<string, TokenRec>();
  readonly images = new Map<string, ImageRec>();
  readonly flavors = new Map<string, FlavorRec>();
  readonly services = new Map<string, ServiceRec>();
  readonly servers = new Map<string, ServerRec>();
  readonly networks = new Map<string, NetworkRec>();
  readonly subnets = new Map<string, SubnetRec>();
  readonly alarms = new Map<string, AlarmRec>();
  readonly alarmHistory = new Map<string, AlarmHistoryRec[]>();
  readonly quotas = new Map<string, QuotaRec>();
  private instanceSeq = 0;
  private flavorSeq = 0;
  private scheduleCursor = 0;

  addProject(name: string, description = '', domainId = 'default'): ProjectRec {
    const p = { id: hexId(), name, domainId, description, enabled: true };
    this.projects.set(p.id, p);
    return p;
  }

  addUser(name: string, password: string, defaultProjectId?: string, domainId = 'default'): UserRec {
    const u: UserRec = { id: hexId(), name, domainId, password, enabled: true, ...(defaultProjectId ? { defaultProjectId } : {}) };
    this.users.set(u.id, u);
    return u;
  }

  addRole(name: string): RoleRec {
    const r = { id: hexId(), name };
    this.roles.set(r.id, r);
    return r;
  }

  roleByName(name: string): RoleRec | undefined {
    return [...this.roles.values()].find((r) => r.name === name);
  }

  assign(projectId: string, userId: string, roleId: string): void {
    const key = `${projectId}:${userId}`;
    const set = this.assignments.get(key) ?? new Set<string>();
    set.add(roleId);
    this.assignments.set(key, set);
  }

  /** Role names on a project, with Keystone's default implied roles (admin ⇒ member ⇒ reader). */
  effectiveRoles(projectId: string, userId: string): string[] {
    const ids = this.assignments.get(`${projectId}:${userId}`) ?? new Set<string>();
    const names = new Set([...ids].map((id) => this.roles.get(id)?.name).filter((n): n is string => Boolean(n)));
    if (names.has('admin')) names.add('member');
    if (names.has('member')) names.add('reader');
    const order = ['member', 'admin', 'reader'];
    return [...names].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  }

  addComputeHost(spec: ComputeHostSpec, now: number): ServiceRec {
    const n = this.services.size;
    const s: ServiceRec = {
      legacyId: n + 4,
      uuid: uuid(),
      host: spec.name,
      ip: spec.ip,
      binary: 'nova-compute',
      zone: 'nova',
      disabled: false,
      disabledReason: null,
      forcedDown: false,
      updatedAt: now,
      hypervisorLegacyId: n + 1,
      hypervisorUuid: uuid(),
    };
    this.services.set(s.uuid, s);
    return s;
  }

  serviceByHost(host: string): ServiceRec | undefined {
    return [...this.services.values()].find((s) => s.host === host);
  }

  /** Round-robin over hosts that could take a VM (enabled, not forced down). */
  pickHost(): ServiceRec | undefined {
    const candidates = [...this.services.values()].filter((s) => !s.disabled && !s.forcedDown);
    if (!candidates.length) return undefined;
    return candidates[this.scheduleCursor++ % candidates.length];
  }

  nextInstanceNumber(): number {
    return ++this.instanceSeq;
  }

  nextFlavorSeq(): number {
    return ++this.flavorSeq;
  }

  quotaFor(projectId: string): QuotaRec {
    return this.quotas.get(projectId) ?? { ...DEFAULT_QUOTA };
  }
}

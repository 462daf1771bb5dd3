import { compareMicroversions } from '../../openstack/index.js';
import type { Cloud } from './cloud.js';
import { isoMicros, isoSeconds, sha224 } from './format.js';
import type { FlavorRec, ServerRec, ServiceRec } from './state.js';

/** Wire views of Nova resources, shaped by microversion and role as nova-api shapes them. */

export const at = (mv: string, min: string) => compareMicroversions(mv, min) >= 0;

const STATUS: Record<ServerRec['vmState'], string> = { building: 'BUILD', active: 'ACTIVE', error: 'ERROR', deleted: 'DELETED' };
const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD']);

export function serverStatus(s: ServerRec): string {
  return STATUS[s.vmState];
}

/** host_status (2.16+): UP, UNKNOWN (not reporting), DOWN (forced down), MAINTENANCE (disabled), "" (no host). */
export function hostStatus(svc: ServiceRec | undefined): string {
  if (!svc) return '';
  if (svc.forcedDown) return 'DOWN';
  if (svc.disabled) return 'MAINTENANCE';
  return 'UP';
}

export function serverLinks(cloud: Cloud, id: string) {
  return [
    { rel: 'self', href: `${cloud.baseUrl}/compute/v2.1/servers/${id}` },
    { rel: 'bookmark', href: `${cloud.baseUrl}/compute/servers/${id}` },
  ];
}

export function serverView(cloud: Cloud, s: ServerRec, mv: string, isAdmin: boolean): Record<string, unknown> {
  const st = cloud.state;
  const flavor = st.flavors.get(s.flavorId);
  const status = serverStatus(s);
  const addresses: Record<string, unknown[]> = {};
  for (const n of s.networks) {
    const net = st.networks.get(n.networkId);
    (addresses[net?.name ?? n.networkId] ??= []).push({ version: 4, addr: n.addr, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': macFor(s.id) });
  }
  const v: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    status,
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: {},
    hostId: s.host ? sha224(s.projectId + s.host) : '',
    image: { id: s.imageId, links: [{ rel: 'bookmark', href: `${cloud.baseUrl}/compute/images/${s.imageId}` }] },
    flavor: at(mv, '2.47') && flavor
      ? { vcpus: flavor.vcpus, ram: flavor.ram, disk: flavor.disk, ephemeral: flavor.ephemeral, swap: flavor.swap, original_name: flavor.name, extra_specs: {} }
      : { id: s.flavorId, links: [{ rel: 'bookmark', href: `${cloud.baseUrl}/compute/flavors/${s.flavorId}` }] },
    created: isoSeconds(s.createdAt),
    updated: isoSeconds(s.updatedAt),
    addresses,
    accessIPv4: '',
    accessIPv6: '',
    links: serverLinks(cloud, s.id),
    'OS-DCF:diskConfig': 'MANUAL',
  };
  if (PROGRESS_STATUSES.has(status)) v['progress'] = 0;
  Object.assign(v, {
    'OS-EXT-AZ:availability_zone': s.host ? s.availabilityZone : '',
    config_drive: '',
    key_name: null,
    'OS-SRV-USG:launched_at': s.launchedAt !== undefined ? isoMicros(s.launchedAt) : null,
    'OS-SRV-USG:terminated_at': null,
  });
  if (isAdmin) {
    v['OS-EXT-SRV-ATTR:host'] = s.host ?? null;
    v['OS-EXT-SRV-ATTR:instance_name'] = `instance-${s.instanceNumber.toString(16).padStart(8, '0')}`;
    v['OS-EXT-SRV-ATTR:hypervisor_hostname'] = s.host ?? null;
    if (at(mv, '2.3')) {
      Object.assign(v, {
        'OS-EXT-SRV-ATTR:reservation_id': s.reservationId,
        'OS-EXT-SRV-ATTR:launch_index': 0,
        'OS-EXT-SRV-ATTR:hostname': s.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-'),
        'OS-EXT-SRV-ATTR:kernel_id': '',
        'OS-EXT-SRV-ATTR:ramdisk_id': '',
        'OS-EXT-SRV-ATTR:root_device_name': s.host ? '/dev/sda' : null,
        'OS-EXT-SRV-ATTR:user_data': null,
      });
    }
  }
  Object.assign(v, {
    'OS-EXT-STS:task_state': s.taskState,
    'OS-EXT-STS:vm_state': s.vmState,
    'OS-EXT-STS:power_state': s.powerState,
    'os-extended-volumes:volumes_attached': [],
  });
  if (isAdmin && at(mv, '2.16')) v['host_status'] = hostStatus(s.host ? st.serviceByHost(s.host) : undefined);
  if (at(mv, '2.9')) v['locked'] = false;
  if (at(mv, '2.73')) v['locked_reason'] = null;
  if (at(mv, '2.19')) v['description'] = null;
  if (at(mv, '2.26')) v['tags'] = [];
  if (at(mv, '2.63')) v['trusted_image_certificates'] = null;
  return v;
}

function macFor(id: string): string {
  const hex = id.replace(/-/g, '').slice(0, 10);
  return `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

/** Nova stops heartbeating a forced-down service's `updated_at`; otherwise it moves every 10 s. */
export function serviceUpdatedAt(svc: ServiceRec, now: number): string {
  if (!svc.forcedDown) svc.updatedAt = Math.max(svc.updatedAt, Math.floor(now / 10_000) * 10_000);
  return isoMicros(svc.updatedAt);
}

export function serviceView(svc: ServiceRec, mv: string, now: number): Record<string, unknown> {
  const v: Record<string, unknown> = {
    binary: svc.binary,
    host: svc.host,
    id: at(mv, '2.53') ? svc.uuid : svc.legacyId,
    zone: svc.zone,
    status: svc.disabled ? 'disabled' : 'enabled',
    state: svc.forcedDown ? 'down' : 'up',
    updated_at: serviceUpdatedAt(svc, now),
    disabled_reason: svc.disabledReason,
  };
  if (at(mv, '2.11')) v['forced_down'] = svc.forcedDown;
  return v;
}

export function hypervisorView(cloud: Cloud, svc: ServiceRec, mv: string): Record<string, unknown> {
  const servers = [...cloud.state.servers.values()].filter((s) => s.host === svc.host && s.vmState !== 'deleted');
  const used = servers.reduce(
    (acc, s) => {
      const f = cloud.state.flavors.get(s.flavorId);
      return { vcpus: acc.vcpus + (f?.vcpus ?? 0), ram: acc.ram + (f?.ram ?? 0), disk: acc.disk + (f?.disk ?? 0) };
    },
    { vcpus: 0, ram: 512, disk: 0 },
  );
  const uuidIds = at(mv, '2.53');
  const v: Record<string, unknown> = {
    id: uuidIds ? svc.hypervisorUuid : svc.hypervisorLegacyId,
    hypervisor_hostname: svc.host,
    state: svc.forcedDown ? 'down' : 'up',
    status: svc.disabled ? 'disabled' : 'enabled',
    hypervisor_type: 'fake',
    hypervisor_version: 1000,
    host_ip: svc.ip,
    service: { id: uuidIds ? svc.uuid : svc.legacyId, host: svc.host, disabled_reason: svc.disabledReason },
  };
  if (!at(mv, '2.88')) {
    Object.assign(v, {
      vcpus: 1000, memory_mb: 800000, local_gb: 600000,
      vcpus_used: used.vcpus, memory_mb_used: used.ram, local_gb_used: used.disk,
      free_ram_mb: 800000 - used.ram, free_disk_gb: 600000 - used.disk,
      current_workload: 0, running_vms: servers.length, disk_available_least: 0,
    });
  }
  const cpu = { arch: 'x86_64', model: 'Nehalem', vendor: 'Intel', features: ['pge', 'clflush'], topology: { cores: 1, threads: 1, sockets: 4 } };
  v['cpu_info'] = at(mv, '2.28') ? cpu : JSON.stringify(cpu);
  return v;
}

export function flavorView(cloud: Cloud, f: FlavorRec, mv: string, detail: boolean): Record<string, unknown> {
  const links = [
    { rel: 'self', href: `${cloud.baseUrl}/compute/v2.1/flavors/${f.id}` },
    { rel: 'bookmark', href: `${cloud.baseUrl}/compute/flavors/${f.id}` },
  ];
  if (!detail) return { id: f.id, name: f.name, links, ...(at(mv, '2.55') ? { description: null } : {}) };
  const v: Record<string, unknown> = {
    id: f.id, name: f.name, ram: f.ram, disk: f.disk, swap: f.swap || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral, 'OS-FLV-DISABLED:disabled': false, vcpus: f.vcpus,
    'os-flavor-access:is_public': f.isPublic, rxtx_factor: 1.0, links,
  };
  if (at(mv, '2.55')) v['description'] = null;
  if (at(mv, '2.61')) v['extra_specs'] = {};
  return v;
}

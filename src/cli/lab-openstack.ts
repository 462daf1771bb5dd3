import { ConfigError } from '../shared/index.js';
import { DEFAULT_PORTS, freeLabPorts, isRestartableService, openstackDown, openstackRestart, openstackStatus, openstackUp, readOpenStackState, RESTARTABLE_SERVICES, type PortName } from '../lab/index.js';

export interface OpenStackFlags {
  stateDir: string;
  computes?: string;
  novaApiWorkers?: string;
  labId?: string;
  ports?: string;
}

/** "keystone=5001,nova=8775" → ports, naming the flag on any mistake. */
export function parsePorts(text: string | undefined): Partial<Record<PortName, number>> {
  const ports: Partial<Record<PortName, number>> = {};
  for (const item of (text ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const [name, value] = item.split('=');
    if (!name || !(name in DEFAULT_PORTS)) throw new ConfigError('--ports', `unknown service "${name}" (known: ${Object.keys(DEFAULT_PORTS).join(', ')})`);
    const port = Number(value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError('--ports', `${name} needs a port from 1 to 65535 (got "${value ?? ''}")`);
    ports[name as PortName] = port;
  }
  return ports;
}

export async function runOpenStackUp(flags: OpenStackFlags, out: (l: string) => void): Promise<void> {
  const computes = Number(flags.computes ?? 2);
  if (!Number.isInteger(computes) || computes < 1 || computes > 16) throw new ConfigError('--computes', `must be a whole number from 1 to 16 (got "${flags.computes}")`);
  // "auto": free ports for a new lab; an existing lab keeps its own.
  const ports = flags.ports !== 'auto' ? parsePorts(flags.ports) : readOpenStackState(flags.stateDir) ? {} : await freeLabPorts();
  const workers = flags.novaApiWorkers === undefined ? undefined : Number(flags.novaApiWorkers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 32)) throw new ConfigError('--nova-api-workers', `must be a whole number from 1 to 32 (got "${flags.novaApiWorkers}")`);
  const s = await openstackUp({ stateDir: flags.stateDir, computes, ports, ...(workers ? { novaApiWorkers: workers } : {}), progress: out, ...(flags.labId ? { labId: flags.labId } : {}) });
  out('run the Doctor scenario against it:');
  out(`  export OS_CLIENT_CONFIG_FILE=${s.cloudsYaml} OS_CLOUD=doctor-openstack`);
  out(`  doctor run --config ${s.runConfig}`);
}

export async function runOpenStackDown(flags: OpenStackFlags, out: (l: string) => void): Promise<void> {
  out((await openstackDown({ stateDir: flags.stateDir, progress: out })) ? 'OpenStack lab down' : `no OpenStack lab at ${flags.stateDir}`);
}

export async function runOpenStackRestart(service: string, flags: OpenStackFlags, out: (l: string) => void): Promise<void> {
  if (!isRestartableService(service)) throw new ConfigError('<service>', `must be one of ${RESTARTABLE_SERVICES.join(', ')} (got "${service}")`);
  await openstackRestart({ stateDir: flags.stateDir, service, progress: out });
}

export function runOpenStackStatus(flags: OpenStackFlags, out: (l: string) => void): number {
  const { state, services, memoryMiB, totalMiB } = openstackStatus(flags.stateDir);
  if (!state) {
    out(`no OpenStack lab at ${flags.stateDir}`);
    return 1;
  }
  for (const [name, ok] of Object.entries(services)) out(`  ${name.padEnd(24)} ${ok ? `running  ${`${memoryMiB[name]!.toFixed(1)} MiB`.padStart(10)}` : 'NOT RUNNING'}`);
  const computes = Object.entries(memoryMiB).filter(([k]) => k.startsWith('nova-compute '));
  const computeMiB = computes.reduce((n, [, v]) => n + v, 0);
  out(`  memory (PSS): ${totalMiB.toFixed(0)} MiB in all; ${computes.length} fake nova-compute(s) ${computeMiB.toFixed(0)} MiB (${(computeMiB / Math.max(1, computes.length)).toFixed(0)} MiB each)`);
  return Object.values(services).every(Boolean) ? 0 : 1;
}

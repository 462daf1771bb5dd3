import { openstackDown, openstackStatus, openstackUp } from '../lab/index.js';

export interface OpenStackFlags {
  stateDir: string;
  keystonePort: string;
  mysqlPort: string;
  rabbitPort: string;
  placementPort: string;
  glancePort: string;
}

export async function runOpenStackUp(flags: OpenStackFlags, out: (l: string) => void): Promise<void> {
  const s = await openstackUp({ stateDir: flags.stateDir, keystonePort: Number(flags.keystonePort), mysqlPort: Number(flags.mysqlPort), rabbitPort: Number(flags.rabbitPort), placementPort: Number(flags.placementPort), glancePort: Number(flags.glancePort), progress: out });
  out(`use it: export OS_CLIENT_CONFIG_FILE=${s.cloudsYaml} OS_CLOUD=doctor-openstack`);
}

export async function runOpenStackDown(flags: OpenStackFlags, out: (l: string) => void): Promise<void> {
  out((await openstackDown({ stateDir: flags.stateDir, progress: out })) ? 'OpenStack lab down' : `no OpenStack lab at ${flags.stateDir}`);
}

export function runOpenStackStatus(flags: OpenStackFlags, out: (l: string) => void): number {
  const { state, services } = openstackStatus(flags.stateDir);
  if (!state) {
    out(`no OpenStack lab at ${flags.stateDir}`);
    return 1;
  }
  for (const [name, ok] of Object.entries(services)) out(`  ${name.padEnd(10)} ${ok ? 'running' : 'NOT RUNNING'}`);
  return Object.values(services).every(Boolean) ? 0 : 1;
}

import { HarnessError } from '../../shared/index.js';
import { DEVSTACK_LAYOUT } from '../controller/index.js';
import type { InstallerAdapter, InstallerConfig } from './types.js';

/**
 * local: the addresses are given (Doctor's COMPUTE_IP and CONTROLLER_IPS); a compute not given is looked
 * up by its name (Doctor used `getent hosts`), never guessed from Nova.
 */
export function local(installer: InstallerConfig, resolveHost: (name: string) => Promise<string>): InstallerAdapter {
  return {
    async computeAddress(host) {
      const given = installer.computeIps;
      const ip = given?.[host.name] ?? given?.['*'];
      if (ip) return ip;
      try {
        return await resolveHost(host.name);
      } catch (err) {
        throw new HarnessError(
          `cannot find the address of compute host ${host.name}: set COMPUTE_IP (an address, or name=address,...) or make the name resolvable (${(err as Error).message})`,
          { cause: err },
        );
      }
    },
    layout: async () => DEVSTACK_LAYOUT,
    controllers: async () => (installer.controllerIps ?? []).map((ip, i) => ({ name: `controller-${i + 1}`, ip })),
  };
}

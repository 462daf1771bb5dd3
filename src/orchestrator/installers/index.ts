/**
 * Installer adapters: how a configured cloud's nodes are found and reached, as each installer's own
 * tooling finds them (reference/doctor.md §3). devstack and local exist; apex and fuel/mcp come with
 * "Real deployments, part 2", and config refuses them until then.
 */
import { ConfigError } from '../../shared/index.js';
import { devstack } from './devstack.js';
import { local } from './local.js';
import type { InstallerAdapter, InstallerConfig } from './types.js';

export type { InstallerAdapter, InstallerConfig, NodeAddress } from './types.js';

/** The installer types that have an adapter. */
export const INSTALLERS = ['devstack', 'local'] as const;

export function adapterFor(config: { installer: InstallerConfig }, resolveHost: (name: string) => Promise<string>): InstallerAdapter {
  switch (config.installer.type) {
    case 'devstack':
      return devstack();
    case 'local':
      return local(config.installer, resolveHost);
    default:
      throw new ConfigError('INSTALLER_TYPE', `${config.installer.type} has no adapter yet (${INSTALLERS.join(', ')} do)`);
  }
}

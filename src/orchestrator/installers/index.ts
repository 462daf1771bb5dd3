/**
 * Installer adapters: how a configured cloud's nodes are found and reached, as each installer's own
 * tooling finds them (reference/doctor.md §3): devstack, local, apex (TripleO) and fuel/mcp (salt).
 */
import { ConfigError } from '../../shared/index.js';
import { apex } from './apex.js';
import { devstack } from './devstack.js';
import { local } from './local.js';
import { mcp } from './mcp.js';
import type { AdapterDeps, InstallerAdapter, InstallerConfig } from './types.js';

export { APEX_CONTAINER_LAYOUT, APEX_LAYOUT, SERVER_LIST } from './apex.js';
export { MCP_LAYOUT, PILLAR_ADDRESSES } from './mcp.js';
export type { AdapterDeps, InstallerAdapter, InstallerConfig, NodeAddress } from './types.js';

/** The installer types that have an adapter. */
export const INSTALLERS = ['devstack', 'local', 'apex', 'fuel', 'mcp'] as const;

export function adapterFor(config: { installer: InstallerConfig }, deps: AdapterDeps): InstallerAdapter {
  switch (config.installer.type) {
    case 'devstack':
      return devstack();
    case 'local':
      return local(config.installer, deps.resolveHost);
    case 'apex':
      return apex(config.installer, deps);
    case 'fuel':
    case 'mcp':
      return mcp(config.installer, deps);
    default:
      throw new ConfigError('INSTALLER_TYPE', `${config.installer.type} has no adapter yet (${INSTALLERS.join(', ')} do)`);
  }
}

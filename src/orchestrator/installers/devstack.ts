import { DEVSTACK_LAYOUT } from '../controller/index.js';
import type { InstallerAdapter } from './types.js';

/**
 * devstack: the computes are where Nova's hypervisor records say (`GET /os-hypervisors/detail` host_ip,
 * which the VMs' host comes with); the controller is the host serving Keystone.
 */
export function devstack(): InstallerAdapter {
  return {
    computeAddress: async (host) => host.ip,
    layout: async () => DEVSTACK_LAYOUT,
    controllers: async (credentials) => [{ name: 'controller', ip: new URL(credentials.authUrl).hostname.replace(/^\[(.*)\]$/, '$1') }],
  };
}

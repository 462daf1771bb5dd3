import type { CloudCredentials } from '../../openstack/index.js';
import type { ControllerLayout } from '../controller/index.js';

export interface NodeAddress {
  name: string;
  ip: string;
}

/** What the configuration says of the installer. computeIps: name → address ('*' for any host). */
export interface InstallerConfig {
  type: string;
  ip?: string;
  computeIps?: Record<string, string>;
  controllerIps?: string[];
}

export interface InstallerAdapter {
  /** The address the run probes and SSHes to for the compute Nova names (its host_ip). */
  computeAddress(host: NodeAddress): Promise<string>;
  /** The control-plane nodes. */
  controllers(credentials: CloudCredentials): Promise<NodeAddress[]>;
  /** Where the controllers keep the files the set-up edits, and how their services restart. */
  layout: ControllerLayout;
}

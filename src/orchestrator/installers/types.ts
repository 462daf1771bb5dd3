import type { CloudCredentials } from '../../openstack/index.js';
import type { ControllerLayout, ControllerNode, ControllerSession } from '../controller/index.js';
import type { SshAuth } from '../fault/ssh.js';

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

/** What an adapter may use to find the nodes. */
export interface AdapterDeps {
  /** Resolves a host name (the local installer's DNS fallback). */
  resolveHost: (name: string) => Promise<string>;
  /** A session on a node (the undercloud, the salt master), as the configured user with the configured key. */
  session: (node: ControllerNode) => Promise<ControllerSession>;
  /** The configured SSH access (the user and key that reach the installer's node). */
  auth: SshAuth;
  /** A private folder (0700) for what the adapter fetches (the nodes' key and host keys); removed with the run. */
  privateDir: () => string;
}

export interface InstallerAdapter {
  /** The address the run probes and SSHes to for the compute Nova names (its host_ip). */
  computeAddress(host: NodeAddress): Promise<string>;
  /** The control-plane nodes. */
  controllers(credentials: CloudCredentials): Promise<NodeAddress[]>;
  /** Where the controllers keep the files the set-up edits, and how their services restart. */
  layout(): Promise<ControllerLayout>;
  /** How the nodes are reached when not as the configured user with the configured key (apex: heat-admin, the undercloud's key). */
  nodeAccess?(): Promise<{ username: string; auth: SshAuth }>;
}

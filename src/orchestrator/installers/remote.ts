/**
 * What the apex and mcp adapters share: a session on the installer's node, its commands, the nodes' host keys
 * read there, and the adapter itself once the node list is known (discovered once, on first use).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError, shellQuote } from '../../shared/index.js';
import type { ControllerLayout, ControllerNode, ControllerSession } from '../controller/index.js';
import type { SshAuth } from '../fault/ssh.js';
import { nodeForHost, type NodeRole } from './tripleo.js';
import type { AdapterDeps, InstallerAdapter } from './types.js';

export interface InstallerNode {
  session: ControllerSession;
  /** user@address, for errors. */
  where: string;
  /** Runs a command that must succeed; `what` says why, in the error. */
  must(command: string, what: string): Promise<string>;
}

/** Logs in to the installer's node (the undercloud, the salt master); `names` says which settings lead there. */
export async function installerNode(deps: AdapterDeps, node: ControllerNode, role: string, names: string): Promise<InstallerNode> {
  const where = `${node.ssh.target.username ?? 'root'}@${node.ip}`;
  const session = await deps.session(node).catch((err: Error) => {
    throw new HarnessError(`cannot reach the ${role} as ${where} (${names}): ${err.message}`, { cause: err });
  });
  return {
    session, where,
    async must(command, what) {
      const r = await session.exec(command, 60_000);
      if (r.code !== 0) throw new HarnessError(`"${command}" on the ${role} (${where}) failed (exit ${r.code}) ${what}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ') || '(no output)'}`);
      return r.stdout;
    },
  };
}

/**
 * The nodes' host keys, read on the installer's node (`ssh-keyscan` there, over a connection whose own host
 * key was verified: the installer vouches for its nodes), into a known_hosts file of the private folder.
 * Nothing to read when the user opted out of host key checks.
 */
export async function nodesAuth(installer: InstallerNode, deps: AdapterDeps, ips: string[], privateKeyPath: string): Promise<SshAuth> {
  if (deps.auth.insecureSkipHostKeyCheck) return { privateKeyPath, insecureSkipHostKeyCheck: true };
  const scanned = await installer.must(`ssh-keyscan -T 5 ${[...new Set(ips)].map(shellQuote).join(' ')} 2>/dev/null; true`, 'reading the nodes\' host keys');
  const knownHostsPath = join(deps.privateDir(), 'nodes-known_hosts');
  writeFileSync(knownHostsPath, scanned, { mode: 0o600 });
  return { privateKeyPath, knownHostsPath };
}

/** What an installer's node says of the deployment. */
export interface Discovered {
  nodes: Array<{ name: string; role: NodeRole; ip: string; networks: Record<string, string[]> }>;
  access: { username: string; auth: SshAuth };
  layout: ControllerLayout;
}

/**
 * The adapter of an installer that lists its nodes (`source`: "the undercloud at 192.0.2.1"; `hint`: how it
 * names each role). Discovery runs once; a deployment without a compute or a controller is refused.
 */
export function discoveredAdapter(source: string, hint: { compute: string; controller: string }, discover: () => Promise<Discovered>): InstallerAdapter {
  let found: Promise<Discovered> | undefined;
  const deployment = () => (found ??= discover().then((d) => {
    const names = d.nodes.map((n) => n.name).join(', ') || 'no node at all';
    for (const role of ['compute', 'controller'] as const) {
      if (!d.nodes.some((n) => n.role === role)) throw new HarnessError(`${source} lists no ${role} node (${hint[role]}): ${names}`);
    }
    return d;
  }));
  return {
    async computeAddress(host) {
      const computes = (await deployment()).nodes.filter((n) => n.role === 'compute');
      const node = nodeForHost(computes, host);
      if (!node) throw new HarnessError(`Nova's compute ${host.name} (${host.ip}) is not among the compute nodes ${source} lists (${computes.map((n) => `${n.name}=${n.ip}`).join(', ')})`);
      return node.ip;
    },
    controllers: async () => (await deployment()).nodes.filter((n) => n.role === 'controller').map((n) => ({ name: n.name.split('.')[0]!, ip: n.ip })),
    layout: async () => (await deployment()).layout,
    nodeAccess: async () => (await deployment()).access,
  };
}

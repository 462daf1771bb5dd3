/** What the apex and mcp adapters share: a session on the installer's node, its commands, the nodes' host keys read there. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError, shellQuote } from '../../shared/index.js';
import type { ControllerNode, ControllerSession } from '../controller/index.js';
import type { SshAuth } from '../fault/ssh.js';
import type { AdapterDeps } from './types.js';

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

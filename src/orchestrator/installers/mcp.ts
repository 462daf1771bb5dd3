/**
 * fuel / mcp (Mirantis Cloud Platform): the salt master at INSTALLER_IP knows every node. As Doctor's
 * mcp installer did, the run logs in there as `ubuntu` (SSH_KEY, by default Doctor's
 * /var/lib/opnfv/mcp.rsa), reads each minion's address from the pillar (`salt '*' --out yaml pillar.get
 * _param:single_address`; minions `ctl*` are controllers, `cmp*` computes) and reaches the nodes as
 * `ubuntu` with the same key, with sudo; their host keys are read through the salt master (remote.ts).
 */
import { isMap, isScalar, parseDocument } from 'yaml';
import { HarnessError } from '../../shared/index.js';
import { ETC_FILES, type ControllerLayout, type ControllerNode } from '../controller/index.js';
import { discoveredAdapter, installerNode, nodesAuth, type Discovered } from './remote.js';
import type { NodeRole } from './tripleo.js';
import type { AdapterDeps, InstallerAdapter, InstallerConfig } from './types.js';

/** MCP's services, from Ubuntu's packages. */
export const MCP_LAYOUT: ControllerLayout = {
  ...ETC_FILES,
  restart: {
    ceilometer: 'sudo systemctl restart ceilometer-agent-notification',
    aodh: 'sudo systemctl restart aodh-listener',
    nova: 'sudo systemctl restart nova-api',
  },
  logs: { novaApi: '/var/log/nova/nova-api.log', ceilometerNotification: '/var/log/ceilometer/ceilometer-agent-notification.log', aodhListener: '/var/log/aodh/aodh-listener.log' },
};

/** The command that lists the nodes' addresses, as the salt master's ubuntu user runs it. */
export const PILLAR_ADDRESSES = "sudo salt '*' --out yaml pillar.get _param:single_address";

export interface SaltNode {
  /** The minion id (cmp001.mcp-pike-ovs-ha.local). */
  name: string;
  role: NodeRole;
  ip: string;
  networks: Record<string, string[]>;
}

/** A minion's role from its id, as MCP names them: ctlNN controllers, cmpNNN computes. */
export function minionRole(id: string): NodeRole {
  const short = id.split('.')[0]!;
  return /^ctl\d*$/.test(short) ? 'controller' : /^cmp\d*$/.test(short) ? 'compute' : 'other';
}

/**
 * The `--out yaml` answer: one `minion: value` line per minion that returned. A minion without the
 * parameter answers '' and one that did not return says so in its value: neither has an address.
 */
export function parsePillarAddresses(text: string, source: string): SaltNode[] {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length || !isMap(doc.contents)) {
    throw new HarnessError(`${source} did not print salt's YAML (one "minion: address" line per minion): ${text.trim().slice(0, 200) || '(nothing)'}`);
  }
  return doc.contents.items.flatMap((pair): SaltNode[] => {
    const id = isScalar(pair.key) ? String(pair.key.value) : '';
    const value = isScalar(pair.value) ? String(pair.value.value ?? '') : '';
    if (!id || !/^[0-9a-fA-F.:]+$/.test(value)) return [];
    return [{ name: id, role: minionRole(id), ip: value, networks: { single_address: [value] } }];
  });
}

/** INSTALLER_IP is the salt master (loadConfig requires it). */
export function mcp(installer: InstallerConfig, deps: AdapterDeps): InstallerAdapter {
  const ip = installer.ip!;
  const master: ControllerNode = { name: 'salt master', ip, ssh: { target: { host: ip, username: 'ubuntu' }, auth: deps.auth } };
  return discoveredAdapter(`the salt master at ${ip}`, { compute: 'minions cmp*', controller: 'minions ctl*' }, () => discover(master, deps));
}

async function discover(master: ControllerNode, deps: AdapterDeps): Promise<Discovered> {
  const salt = await installerNode(deps, master, 'salt master', 'INSTALLER_IP, SSH_KEY');
  try {
    const nodes = parsePillarAddresses(await salt.must(PILLAR_ADDRESSES, 'reading the nodes\' addresses'), `"${PILLAR_ADDRESSES}" on ${salt.where}`);
    // The nodes take the key the salt master takes, as ubuntu.
    const auth = await nodesAuth(salt, deps, nodes.filter((n) => n.role !== 'other').map((n) => n.ip), deps.auth.privateKeyPath);
    return { nodes, access: { username: 'ubuntu', auth }, layout: MCP_LAYOUT };
  } finally {
    salt.session.close();
  }
}

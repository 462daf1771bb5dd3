/**
 * What a TripleO undercloud says of its overcloud: `openstack server list -f json` (python-openstackclient),
 * the nodes named `<stack>-controller-N` and `<stack>-novacompute-N` (older: `-compute-N`), each with its
 * ctlplane address. Pure parsing, so every format the client has printed is tested without an undercloud.
 */
import { HarnessError, isRecord } from '../../shared/index.js';

export type NodeRole = 'controller' | 'compute' | 'other';

export interface OvercloudNode {
  name: string;
  role: NodeRole;
  status: string;
  /** The ctlplane address: where the undercloud (and so the harness, through it) reaches the node. */
  ip: string;
  /** Every address the node has, per network. */
  networks: Record<string, string[]>;
}

/** A node's role from its name, as TripleO names them. */
export function roleOf(name: string): NodeRole {
  if (/-controller-\d+$/.test(name)) return 'controller';
  if (/-(novacompute|compute)-\d+$/.test(name)) return 'compute';
  return 'other';
}

/**
 * The `Networks` column: a mapping of network → addresses (-f json since python-openstackclient 5.x), or
 * the older text `ctlplane=192.0.2.6; internal_api=172.16.2.5, 172.16.2.6`.
 */
export function parseNetworks(value: unknown): Record<string, string[]> {
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([net, addrs]) => [net, Array.isArray(addrs) ? addrs.map(String) : typeof addrs === 'string' ? [addrs] : []]));
  }
  if (typeof value !== 'string') return {};
  const out: Record<string, string[]> = {};
  for (const part of value.split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).split(',').map((a) => a.trim()).filter(Boolean);
  }
  return out;
}

/** The overcloud nodes in `openstack server list -f json` output; `source` names where it came from in errors. */
export function parseServerList(text: string, source: string): OvercloudNode[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new HarnessError(`${source} did not print JSON (is this a TripleO undercloud with python-openstackclient?): ${text.trim().slice(0, 200) || '(nothing)'}`);
  }
  if (!Array.isArray(doc)) throw new HarnessError(`${source} printed JSON that is not a list of servers: ${text.trim().slice(0, 200)}`);
  return doc.flatMap((row): OvercloudNode[] => {
    if (!isRecord(row) || typeof row['Name'] !== 'string') return [];
    const networks = parseNetworks(row['Networks']);
    const ip = networks['ctlplane']?.[0];
    if (!ip) return [];
    return [{ name: row['Name'], role: roleOf(row['Name']), status: String(row['Status'] ?? ''), ip, networks }];
  });
}

/**
 * The node Nova calls `host` (its hypervisor's service host, e.g. `overcloud-novacompute-0.localdomain`):
 * by short name first (TripleO's node names and salt's minion ids are the hosts' names), then by the
 * address Nova reports (TripleO's host_ip is on internal_api, not ctlplane, on most deployments).
 */
export function nodeForHost<T extends Pick<OvercloudNode, 'name' | 'networks'>>(nodes: T[], host: { name: string; ip: string }): T | undefined {
  const short = (name: string) => name.split('.')[0];
  return nodes.find((n) => short(n.name) === short(host.name)) ?? nodes.find((n) => Object.values(n.networks).some((a) => a.includes(host.ip)));
}

/** What the mcp adapter reads from a salt master: `salt '*' --out yaml pillar.get _param:single_address`. */
import { describe, expect, it } from 'vitest';
import { minionRole, parsePillarAddresses } from '../../src/orchestrator/installers/mcp.js';
import { nodeForHost } from '../../src/orchestrator/installers/tripleo.js';

// One line per minion as it returns; one without the parameter answers '', one that is down says so.
const OUT = [
  'cfg01.mcp-pike-ovs-ha.local: 172.16.10.100',
  'ctl01.mcp-pike-ovs-ha.local: 172.16.10.101',
  'cmp001.mcp-pike-ovs-ha.local: 172.16.10.105',
  "prx01.mcp-pike-ovs-ha.local: ''",
  'cmp002.mcp-pike-ovs-ha.local: Minion did not return. [No response]',
  '',
].join('\n');

describe('salt pillar output', () => {
  it('gives each minion that returned an address with its role', () => {
    expect(parsePillarAddresses(OUT, 'x').map((n) => [n.name, n.role, n.ip])).toEqual([
      ['cfg01.mcp-pike-ovs-ha.local', 'other', '172.16.10.100'],
      ['ctl01.mcp-pike-ovs-ha.local', 'controller', '172.16.10.101'],
      ['cmp001.mcp-pike-ovs-ha.local', 'compute', '172.16.10.105'],
    ]);
    expect([minionRole('ctl03'), minionRole('cmp010.local'), minionRole('mon01.local')]).toEqual(['controller', 'compute', 'other']);
  });

  it('maps Nova\'s host (its short name, or its address) to the minion', () => {
    const nodes = parsePillarAddresses(OUT, 'x');
    expect(nodeForHost(nodes, { name: 'cmp001', ip: '10.1.0.5' })?.ip).toBe('172.16.10.105');
    expect(nodeForHost(nodes, { name: 'compute-a', ip: '172.16.10.105' })?.name).toBe('cmp001.mcp-pike-ovs-ha.local');
  });

  it('says what it got when the answer is not salt\'s', () => {
    expect(() => parsePillarAddresses('sudo: salt: command not found\n', '"salt" on ubuntu@10.20.0.2')).toThrow(/^"salt" on ubuntu@10\.20\.0\.2 did not print salt's YAML \(one "minion: address" line per minion\): sudo: salt: command not found$/);
  });
});

/** What the apex adapter reads from a TripleO undercloud: `openstack server list -f json` in the formats the client has printed. */
import { describe, expect, it } from 'vitest';
import { nodeForHost, parseNetworks, parseServerList, roleOf } from '../../src/orchestrator/installers/tripleo.js';

// python-openstackclient 5.x and later: Networks is a mapping.
const NEW = JSON.stringify([
  { ID: '902f4f5f-01f2-40c9-bd93-0ecf16a53d82', Name: 'overcloud-novacompute-0', Status: 'ACTIVE', Networks: { ctlplane: ['192.0.2.7'] }, Image: 'overcloud-full', Flavor: 'compute' },
  { ID: 'e50c4323-fd15-4a7e-8a40-f7b678f45d40', Name: 'overcloud-controller-0', Status: 'ACTIVE', Networks: { ctlplane: ['192.0.2.6'] }, Image: 'overcloud-full', Flavor: 'control' },
]);
// Older clients: the text nova list showed.
const OLD = JSON.stringify([
  { ID: '1c69cb21-532b-423d-8833-eaa65688f2c6', Name: 'overcloud-compute-1', Status: 'ACTIVE', Networks: 'ctlplane=192.0.2.14; internal_api=172.16.2.9', Image: 'overcloud-full', Flavor: 'compute' },
  { ID: 'f00e67e6-5dc1-416f-af8d-d60ffc44cfe1', Name: 'overcloud-cephstorage-0', Status: 'ACTIVE', Networks: 'ctlplane=192.0.2.12', Image: 'overcloud-full', Flavor: 'ceph' },
  { ID: 'aaaaaaaa-0000-0000-0000-000000000000', Name: 'overcloud-novacompute-9', Status: 'BUILD', Networks: '', Image: 'overcloud-full', Flavor: 'compute' },
]);

describe('TripleO undercloud output', () => {
  it('finds every node with its role and ctlplane address, in both Networks formats', () => {
    expect(parseServerList(NEW, 'x').map((n) => [n.name, n.role, n.ip])).toEqual([
      ['overcloud-novacompute-0', 'compute', '192.0.2.7'], ['overcloud-controller-0', 'controller', '192.0.2.6'],
    ]);
    // A node without a ctlplane address yet (still building) cannot be reached: left out.
    expect(parseServerList(OLD, 'x').map((n) => [n.name, n.role, n.ip])).toEqual([
      ['overcloud-compute-1', 'compute', '192.0.2.14'], ['overcloud-cephstorage-0', 'other', '192.0.2.12'],
    ]);
    expect(parseNetworks('ctlplane=192.0.2.6; internal_api=172.16.2.5, 172.16.2.6')).toEqual({ ctlplane: ['192.0.2.6'], internal_api: ['172.16.2.5', '172.16.2.6'] });
    expect(roleOf('mycloud-controller-12')).toBe('controller');
    expect(roleOf('controller')).toBe('other');
  });

  it('maps the host Nova names to its node: by short name, else by an address Nova reports', () => {
    const nodes = parseServerList(OLD, 'x');
    expect(nodeForHost(nodes, { name: 'overcloud-compute-1.localdomain', ip: '172.16.2.99' })?.ip).toBe('192.0.2.14');
    expect(nodeForHost(nodes, { name: 'compute-1', ip: '172.16.2.9' })?.name).toBe('overcloud-compute-1');
    expect(nodeForHost(nodes, { name: 'compute-7', ip: '10.0.0.7' })).toBeUndefined();
  });

  it('says what it got when the undercloud does not answer with a server list', () => {
    expect(() => parseServerList('bash: openstack: command not found\n', 'openstack server list on stack@192.0.2.1')).toThrow(
      /^openstack server list on stack@192\.0\.2\.1 did not print JSON \(is this a TripleO undercloud with python-openstackclient\?\): bash: openstack: command not found$/,
    );
    expect(() => parseServerList('{"servers": []}', 'x')).toThrow(/^x printed JSON that is not a list of servers/);
  });
});

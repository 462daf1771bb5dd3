/** `doctor monitor --hosts-from-nova`: which hypervisor records become watched hosts, and what is said about the rest. */
import { describe, expect, it } from 'vitest';
import { novaHosts } from '../../src/cli/monitor.js';
import type { Hypervisor } from '../../src/openstack/index.js';

const hyp = (serviceHost: string, hostIp: string, hostname = `${serviceHost}.example`): Hypervisor =>
  ({ id: serviceHost, hostname, serviceHost, hostIp, state: 'up', status: 'enabled', runningVms: 0 });

describe('the host list from Nova', () => {
  it('is sorted by service host, one per service host, and leaves out records without a usable host_ip, saying so once', async () => {
    const warnings: string[] = [];
    let records = [hyp('c3', '10.0.0.3'), hyp('c1', '10.0.0.1'), hyp('ironic', '10.0.0.9', 'node-a'), hyp('ironic', '10.0.0.9', 'node-b'), hyp('c2', ''), hyp('c4', '10.0.0.1'), hyp('c5', 'fe80::1')];
    const read = novaHosts(() => Promise.resolve(records), (m) => warnings.push(m));
    expect(await read()).toEqual([{ name: 'c1', ip: '10.0.0.1' }, { name: 'c3', ip: '10.0.0.3' }, { name: 'ironic', ip: '10.0.0.9' }]);
    expect(warnings).toEqual([
      'hypervisor c2.example (c2) has no IPv4 host_ip (""): not watched',
      'hypervisor c4 has the host_ip of c1 (10.0.0.1): not watched',
      'hypervisor c5.example (c5) has no IPv4 host_ip ("fe80::1"): not watched',
    ]);
    records = [...records, hyp('c0', '10.0.0.10')];
    expect((await read()).map((h) => h.name)).toEqual(['c0', 'c1', 'c3', 'ironic']);
    expect(warnings).toHaveLength(3);
  });
});

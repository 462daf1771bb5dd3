/** `doctor lab openstack up --ports` / `--computes`: mistakes name the flag and what is allowed. */
import { describe, expect, it } from 'vitest';
import { parsePorts, runOpenStackUp } from '../../src/cli/lab-openstack.js';

describe('doctor lab openstack flags', () => {
  it('takes name=port pairs, and names the flag, the service list or the range on a mistake', () => {
    expect(parsePorts('keystone=5001, nova=8775')).toEqual({ keystone: 5001, nova: 8775 });
    expect(parsePorts(undefined)).toEqual({});
    expect(() => parsePorts('swift=8080')).toThrow(/--ports: unknown service "swift" \(known: keystone, mysql, rabbit, placement, glance, neutron, nova, aodh, redis\)/);
    expect(() => parsePorts('nova=0')).toThrow(/--ports: nova needs a port from 1 to 65535 \(got "0"\)/);
    expect(() => parsePorts('nova')).toThrow(/--ports: nova needs a port from 1 to 65535 \(got ""\)/);
  });

  it('refuses a compute count outside 1-16 or a worker count outside 1-32 before touching anything', async () => {
    await expect(runOpenStackUp({ stateDir: '/nonexistent/doctor-test', computes: '0' }, () => {})).rejects.toThrow(/--computes: must be a whole number from 1 to 16 \(got "0"\)/);
    await expect(runOpenStackUp({ stateDir: '/nonexistent/doctor-test', computes: 'two' }, () => {})).rejects.toThrow(/--computes/);
    await expect(runOpenStackUp({ stateDir: '/nonexistent/doctor-test', novaApiWorkers: '0' }, () => {})).rejects.toThrow(/--nova-api-workers: must be a whole number from 1 to 32 \(got "0"\)/);
  });
});

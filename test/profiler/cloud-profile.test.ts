/** How a cloud service's own profile (doctor run --profile-cloud nova-api) reads in the console and the HTML report. */
import { describe, expect, it } from 'vitest';
import { cloudProfilesHtml, renderCloudProfiles, type CloudProfile, type ProfiledFunction } from '../../src/profiler/index.js';
import { loadConfig } from '../../src/orchestrator/index.js';

const f = (fn: string, pkg: string, cumulativeMs: number, ownMs = 1, calls = 3): ProfiledFunction => ({ function: fn, package: pkg, calls, primitiveCalls: calls, ownMs, cumulativeMs });

const profile: CloudProfile = {
  service: 'nova-api', node: 'controller', requests: 5, file: 'cloud-profile/nova-api-controller.prof', totalMs: 400, top: [], hot: [],
  kinds: [
    { kind: 'GET_v2.1_servers_detail', requests: 1, totalMs: 90, top: [f('nova/api/openstack/compute/servers.py:1(detail)', 'nova', 70, 1, 1)], hot: [] },
    { kind: 'POST_v2.1_servers_{id}_action', requests: 3, totalMs: 300, top: [f('nova/objects/instance.py:760(save)', 'nova', 210), f('sqlalchemy/orm/session.py:1563(execute)', 'sqlalchemy', 180, 5, 30)], hot: [f('python3.11/copy.py:259(_reconstruct)', 'python', 40, 38, 90)] },
  ],
};

describe('a cloud service\'s own profile in the reports', () => {
  it('shows the reset requests first, under the controller, with their top functions, then what else was profiled', () => {
    const lines = renderCloudProfiles([profile]);
    const text = lines.join('\n');
    expect(text).toContain('controller (nova): nova-api\'s own profile on controller, 5 request(s) profiled with eventlet\'s profiler (cloud-profile/nova-api-controller.prof; python3 -m pstats)');
    expect(text).toContain('POST /v2.1/servers/{id}/action × 3 (300.0 ms in all), top functions by cumulative time below the WSGI stack:');
    const save = lines.findIndex((l) => l.includes('nova/objects/instance.py:760(save) [nova]'));
    const execute = lines.findIndex((l) => l.includes('sqlalchemy/orm/session.py:1563(execute) [sqlalchemy]'));
    expect(save).toBeGreaterThan(0);
    expect(execute).toBeGreaterThan(save);
    expect(lines[save]).toMatch(/^\s+210\.0 ms\s+1\.0 ms\s+3\s+nova/);
    expect(text).toContain('python3.11/copy.py:259(_reconstruct) [python]');
    expect(text).toContain('also profiled: GET /v2.1/servers/detail × 1');
  });

  it('says why a profile is missing instead of showing an empty one', () => {
    const lines = renderCloudProfiles([{ ...profile, requests: 0, kinds: [], error: 'nova-api wrote no profile during the window' }]);
    expect(lines.join('\n')).toContain('nova-api\'s own profile on controller: not available (nova-api wrote no profile during the window)');
    expect(cloudProfilesHtml([{ ...profile, error: 'x <y>' }])).toContain('Not available: x &lt;y&gt;');
  });

  it('gives the HTML report one table per kind of request, escaped', () => {
    const html = cloudProfilesHtml([profile]);
    expect(html.indexOf('POST /v2.1/servers/{id}/action × 3')).toBeLessThan(html.indexOf('GET /v2.1/servers/detail × 1'));
    expect(html).toContain('<code>nova/objects/instance.py:760(save)</code>');
    expect(html).toContain('by own time');
  });

  it('shows a service profiled as a whole (nova-compute on each compute) by its merged profile below the event loop, then each process', () => {
    const computes: CloudProfile = {
      service: 'nova-compute', node: 'controller', requests: 2, file: 'cloud-profile/nova-compute-controller.prof', totalMs: 900,
      top: [f('nova/compute/manager.py:10034(_update_available_resource)', 'nova', 120), f('oslo_messaging/_drivers/impl_rabbit.py:1(drain_events)', 'oslo_messaging', 80)], hot: [f('kombu/transport/pyamqp.py:1(x)', 'kombu', 30, 25)],
      kinds: [
        { kind: 'nova-compute_compute-1', requests: 1, totalMs: 450, top: [f('nova/compute/manager.py:10034(_update_available_resource)', 'nova', 120)], hot: [] },
        { kind: 'nova-compute_compute-2', requests: 1, totalMs: 450, top: [f('oslo_service/loopingcall.py:1(_run_loop)', 'oslo_service', 60)], hot: [] },
      ],
    };
    const text = renderCloudProfiles([computes]).join('\n');
    expect(text).toContain('compute hosts (off the notification path): nova-compute\'s own profile on controller, 2 process(es) (nova-compute on compute-1, nova-compute on compute-2) profiled');
    expect(text).toContain('the whole of nova-compute for the fault window (900.0 ms), top functions by cumulative time below its event loop:');
    expect(text).toMatch(/120\.0 ms\s+1\.0 ms\s+3\s+nova\/compute\/manager\.py:10034\(_update_available_resource\) \[nova\]/);
    expect(text).not.toContain('also profiled');
    const html = cloudProfilesHtml([computes]);
    expect(html).toContain('nova-compute on compute-2');
    expect(html).toContain('<code>oslo_service/loopingcall.py:1(_run_loop)</code>');
    expect(html.indexOf('the whole of nova-compute')).toBeLessThan(html.indexOf('nova-compute on compute-1 <small>'));
  });

  it('is refused on the embedded lab (its cloud is not Nova) and for a service it cannot profile', () => {
    const load = (profileCloud: string, env: Record<string, string> = {}) => loadConfig({ env, flags: { profileCloud }, readFile: () => undefined, cwd: '/tmp' });
    expect(() => load('nova-api,nova-conductor,nova-compute')).toThrow(/--profile-cloud: the embedded lab's simulated cloud is not Nova/);
    expect(() => load('nova-scheduler')).toThrow(/--profile-cloud: must be nova-api, nova-conductor or nova-compute/);
    expect(() => load('nova-api,')).toThrow(/--profile-cloud: must be/);
  });
});

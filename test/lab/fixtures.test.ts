/**
 * Replays every exchange a real OpenStack Zed answered (test/fixtures/openstack-zed,
 * a copy of the recording in shared/) against the simulated cloud, in order, and
 * requires the same status code, the same JSON shape (keys and value types; ids,
 * names and times may differ) and the same protocol headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloud, type LabCloud } from '../../src/lab/index.js';
import { recordingServer, type RecordingServer } from '../helpers/http.js';
import { FIXTURES, headerDiff, isWebhook, loadFixture, recordedEvent, Replay, shapeDiff } from '../helpers/replay.js';

/** Where the sim cannot match the recording, and why. */
const KNOWN_DIFFERENCES: Record<string, string> = {};

describe('the simulated cloud answers like the recorded Zed cloud', () => {
  let lab: LabCloud;
  let hook: RecordingServer;
  let replay: Replay;

  beforeAll(async () => {
    // The recording's cloud: computes compute-2 then compute-1 (the order Nova listed them, and
    // where the scheduler put the VM), and an ml2 without tenant network types.
    lab = await startCloud({
      hosts: [{ name: 'compute-2', ip: '127.0.0.1' }, { name: 'compute-1', ip: '127.0.0.1' }],
      tenantNetworks: false,
      buildDelayMs: 300,
    });
    hook = await recordingServer();
    const at = (prefix: string) => `${lab.url}${prefix}`;
    replay = new Replay({
      roots: { keystone: at('/identity'), nova: at('/compute'), glance: at('/image'), neutron: at('/network'), aodh: at('/alarming') },
      adminPassword: lab.cloud.adminPassword, hookUrl: `${hook.url}/failure`, webhooks: hook.received,
    });
  });
  afterAll(async () => {
    await lab?.stop();
    await hook?.close();
  });

  for (const file of FIXTURES) {
    it(`${file}`, async () => {
      const x = loadFixture(file);
      const got = await replay.exchange(file);
      if (isWebhook(file)) {
        // 49: the webhook Aodh sent after 48's reset-state.
        expect(shapeDiff(x.request.body, got.body)).toEqual([]);
        expect(got.headers['content-type']).toBe('application/json');
        expect(got.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f-]{36}$/);
        expect((got.body as { previous: string }).previous).toBe('insufficient data');
        expect(hook.received).toHaveLength(1);
        return;
      }
      expect(got.status, `${file}: ${JSON.stringify(got.body)?.slice(0, 200)}`).toBe(x.response.status);
      expect(headerDiff(x.response.headers, got.headers), file).toEqual([]);
      if (!KNOWN_DIFFERENCES[file]) expect(shapeDiff(x.response.body, got.body), file).toEqual([]);
    });
  }

  it('answers the same compute.instance.update event traits as the recording', async () => {
    const recorded = recordedEvent();
    const got = (hook.received[0]!.body as { reason_data: { event: { traits: unknown[] } } }).reason_data.event;
    expect(shapeDiff(recorded, got)).toEqual([]);
    const names = (t: unknown[]) => (t as Array<[string, number]>).map(([n, type]) => `${n}:${type}`);
    expect(names(got.traits)).toEqual(names(recorded.traits));
  });
});

describe('the replay itself', () => {
  // Hypervisors listed compute-1 first (the recording listed compute-2 first); the VM on either host.
  for (const vmHost of ['compute-1', 'compute-2']) {
    it(`finds the VM on ${vmHost} whatever the listing order: force-downs hit its host and are all undone`, async () => {
      const lab = await startCloud({ hosts: [{ name: 'compute-1', ip: '127.0.0.1' }, { name: 'compute-2', ip: '127.0.0.1' }], tenantNetworks: false, buildDelayMs: 50 });
      if (vmHost === 'compute-2') lab.cloud.state.pickHost(); // the round-robin scheduler's next pick is compute-2
      const hook = await recordingServer();
      try {
        const at = (prefix: string) => `${lab.url}${prefix}`;
        const replay = new Replay({
          roots: { keystone: at('/identity'), nova: at('/compute'), glance: at('/image'), neutron: at('/network'), aodh: at('/alarming') },
          adminPassword: lab.cloud.adminPassword, hookUrl: `${hook.url}/failure`, webhooks: hook.received,
        });
        const statuses: string[] = [];
        for (const file of FIXTURES) {
          const got = await replay.exchange(file);
          if (!isWebhook(file) && got.status !== loadFixture(file).response.status) statuses.push(`${file}: ${got.status}`);
        }
        expect(statuses).toEqual([]);
        const vm = replay.answers.get('33-nova-get-server-admin-2.16.json')!.body as { server: Record<string, string> };
        expect(vm.server['OS-EXT-SRV-ATTR:host']).toBe(vmHost);
        const legacy = replay.answers.get('45-nova-force-down-2.11.json')!.body as { service: { host: string } };
        const byId = replay.answers.get('47-nova-service-forced-down-true-2.53.json')!.body as { service: { host: string } };
        expect([legacy.service.host, byId.service.host]).toEqual([vmHost, vmHost]);
        const forced = [...lab.cloud.state.services.values()].filter((s) => s.forcedDown).map((s) => s.host);
        expect(forced).toEqual([]);
        // The host listing asked about the VM's host, where it ran.
        expect((replay.answers.get('40-nova-list-servers-on-host.json')!.body as { servers: unknown[] }).servers).toHaveLength(1);
      } finally {
        await lab.stop();
        await hook.close();
      }
    });
  }
});

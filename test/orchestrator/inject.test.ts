/** Fault injection over SSH on the embedded lab, seen by the real ICMP monitor. Needs root. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { ConfigError } from '../../src/shared/index.js';
import { rotateHostKey, type LabState, type LabHostState } from '../../src/lab/index.js';
import { fetchFaultLog, HostKeyError, injectLinkDown, type SshAuth } from '../../src/orchestrator/index.js';
import { eventually } from '../helpers/lab.js';
import type { Received } from '../helpers/http.js';
import { labWithInspector, watchLab } from '../helpers/monitor.js';

const linkUp = (h: LabHostState) => /[<,]UP[,>]/.test(execFileSync('ip', ['-n', h.namespace, '-o', 'link', 'show', 'dev', h.vethHost], { encoding: 'utf8' }));

describe('link-down fault over SSH on the embedded lab', () => {
  let lab: Awaited<ReturnType<typeof labWithInspector>>;
  let state: LabState;
  let auth: SshAuth;
  let inspectorUrl: string;
  let received: Received[];

  beforeAll(async () => {
    lab = await labWithInspector(2, 'doctor-inject-');
    state = lab.state;
    auth = { privateKeyPath: state.harnessKey, knownHostsPath: state.knownHosts };
    inspectorUrl = lab.inspector.url;
    received = lab.inspector.received;
  });
  afterAll(async () => {
    await lab?.remove();
  });

  it('takes the link down over SSH; the monitor reports the Doctor event; the link comes back by itself', async () => {
    const host = state.hosts[0]!;
    const { monitor, downs, ups } = await watchLab(state, inspectorUrl);
    try {
      await monitor.ready();
      const target = { host: host.hostIp };
      const fault = await injectLinkDown({ target, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, auth);
      await eventually(() => received[0], 10_000, 'the inspector report');
      expect(received[0]!.method).toBe('PUT');
      expect(received[0]!.url).toBe('/events');
      const [event] = received[0]!.body as Array<{ time: string; type: string; details: Record<string, unknown> }>;
      expect(Object.keys(event!).sort()).toEqual(['details', 'time', 'type']);
      expect(event!.type).toBe('compute.host.down');
      expect(Object.keys(event!.details).sort()).toEqual(['hostname', 'monitor', 'monitor_event_id', 'status']);
      expect(event!.details).toMatchObject({ hostname: host.name, status: 'down' });

      // Nobody brings it back but the script itself.
      await eventually(() => ups.find((u) => u.host === host.name && u.from === 'down'), 10_000, 'the link to come back');
      expect(linkUp(host)).toBe(true);
      const log = await fetchFaultLog(fault, target, auth, Date.now() + 15_000);
      expect(log.dev).toBe(host.vethHost);
      expect(log.error).toBeUndefined();
      expect(log.downAt!).toBeLessThan(downs[0]!.detectedAt);
      expect(log.upAt! - log.downAt!).toBeGreaterThanOrEqual(1_000); // a lower bound: sleep never ends early
      expect(readdirSync(host.dir).filter((f) => f.startsWith('doctor-fault-'))).toEqual([]); // script and log removed
      expect(downs.map((d) => d.host)).toEqual([host.name]);
    } finally {
      monitor.stop();
    }
  });

  it('refuses a host whose SSH key changed, and leaves its link alone', async () => {
    const host = state.hosts[1]!;
    await rotateHostKey(state, host.name);
    const err = await injectLinkDown({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, auth).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as Error).message).toContain(`the SSH host key of ${host.hostIp} does not match ${state.knownHosts}`);
    expect((err as Error).message).toContain(`ssh-keygen -R '${host.hostIp}' -f ${state.knownHosts}`);
    expect(linkUp(host)).toBe(true);
    expect(readdirSync(host.dir).filter((f) => f.startsWith('doctor-fault-'))).toEqual([]);
  });

  it('connects anyway only with the explicit opt-out', async () => {
    const host = state.hosts[1]!; // its key was changed by the previous test
    const insecure = { privateKeyPath: state.harnessKey, insecureSkipHostKeyCheck: true };
    const fault = await injectLinkDown({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, insecure);
    const log = await fetchFaultLog(fault, { host: host.hostIp }, insecure, Date.now() + 15_000);
    expect(log.upAt).toBeDefined();
    expect(linkUp(host)).toBe(true);
  });

  it('rejects a fault shorter than a second, naming the option', async () => {
    const host = state.hosts[0]!;
    await expect(injectLinkDown({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 0.5 }, auth)).rejects.toThrow(ConfigError);
    await expect(injectLinkDown({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 0.5 }, auth)).rejects.toThrow(/^--duration: 0\.5 s is out of range/);
  });
});

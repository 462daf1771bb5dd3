/** Fault injection over SSH on the embedded lab, seen by the real ICMP monitor. Needs root. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../src/shared/index.js';
import { labDown, labUp, rotateHostKey, type LabState, type LabHostState } from '../../src/lab/index.js';
import { InspectorReporter, Monitor, openRawIcmp, type HostDownEvent, type HostUpEvent } from '../../src/monitor/index.js';
import { fetchFaultLog, HostKeyError, injectLinkDown, type SshAuth } from '../../src/orchestrator/index.js';
import { eventually } from '../helpers/lab.js';
import { testLabId } from '../helpers/hosts.js';

const linkUp = (h: LabHostState) => /[<,]UP[,>]/.test(execFileSync('ip', ['-n', h.namespace, '-o', 'link', 'show', 'dev', h.vethHost], { encoding: 'utf8' }));

describe('link-down fault over SSH on the embedded lab', () => {
  let stateDir: string;
  let state: LabState;
  let auth: SshAuth;
  let inspector: Server;
  let inspectorUrl: string;
  const received: Array<{ method: string; url: string; body: unknown }> = [];

  beforeAll(async () => {
    stateDir = join(mkdtempSync(join(tmpdir(), 'doctor-inject-')), 'lab');
    state = await labUp({ stateDir, labId: testLabId(), hosts: 2 });
    auth = { privateKeyPath: state.harnessKey, knownHostsPath: state.knownHosts };
    inspector = createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, body: JSON.parse(data) });
        res.end('"OK"');
      });
    });
    await new Promise<void>((r) => inspector.listen(0, '127.0.0.1', r));
    inspectorUrl = `http://127.0.0.1:${(inspector.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => inspector?.close(() => r()));
    if (stateDir) {
      await labDown({ stateDir });
      rmSync(dirname(stateDir), { recursive: true, force: true });
    }
  });

  it('takes the link down over SSH; the monitor reports the Doctor event; the link comes back by itself', async () => {
    const host = state.hosts[0]!;
    const monitor = new Monitor({ hosts: state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })), transport: await openRawIcmp() });
    const reporter = new InspectorReporter({ url: inspectorUrl });
    const downs: HostDownEvent[] = [];
    const ups: HostUpEvent[] = [];
    monitor.on('down', (e: HostDownEvent) => {
      downs.push(e);
      void reporter.report(e.host, e.detectedAt);
    });
    monitor.on('up', (e: HostUpEvent) => ups.push(e));
    monitor.start();
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

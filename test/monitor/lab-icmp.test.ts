/** The monitor for real: raw ICMP to namespace hosts, a real link taken down. Needs root. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { labDown, labUp, type LabState } from '../../src/lab/index.js';
import { assertRoutedThroughLab, InspectorReporter, Monitor, openRawIcmp, type HostDownEvent, type HostUpEvent } from '../../src/monitor/index.js';
import { eventually } from '../helpers/lab.js';
import { testLabId } from '../helpers/hosts.js';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('ICMP monitor on the embedded lab', () => {
  let stateDir: string;
  let state: LabState;
  let inspector: Server;
  let inspectorUrl: string;
  const received: unknown[] = [];

  beforeAll(async () => {
    stateDir = join(mkdtempSync(join(tmpdir(), 'doctor-icmp-')), 'lab');
    state = await labUp({ stateDir, labId: testLabId(), hosts: 2 });
    inspector = createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, body: JSON.parse(data) });
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

  it('detects a real link-down, reports the exact Doctor payload, and sees the host come back', async () => {
    const links = state.hosts.map((h) => h.vethRoot);
    for (const h of state.hosts) await assertRoutedThroughLab(h.hostIp, links);
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
      await monitor.ready(5_000);
      const victim = state.hosts[1]!;
      const before = Date.now();
      execFileSync('ip', ['-n', victim.namespace, 'link', 'set', 'dev', victim.vethHost, 'down']);
      await eventually(() => received[0], 5_000, 'the report to the inspector');
      expect(downs.map((d) => d.host)).toEqual(['compute-2']);
      expect(downs[0]!.detectedAt).toBeGreaterThan(before);
      const hit = received[0] as { method: string; url: string; body: Array<{ time: string; type: string; details: Record<string, string> }> };
      expect(hit.method).toBe('PUT');
      expect(hit.url).toBe('/events');
      expect(hit.body).toHaveLength(1);
      expect(hit.body[0]!.type).toBe('compute.host.down');
      expect(Date.parse(hit.body[0]!.time)).toBe(Math.floor(downs[0]!.detectedAt));
      expect(hit.body[0]!.details).toMatchObject({ hostname: 'compute-2', status: 'down' });
      expect(monitor.states().find((s) => s.host === 'compute-1')?.state).toBe('up');

      execFileSync('ip', ['-n', victim.namespace, 'link', 'set', 'dev', victim.vethHost, 'up']);
      await eventually(() => ups.find((u) => u.from === 'down'), 5_000, 'compute-2 back up');
      expect(received).toHaveLength(1);
    } finally {
      monitor.stop();
    }
  });

  it('refuses targets that are not routed through a lab link, before sending anything', async () => {
    const links = state.hosts.map((h) => h.vethRoot);
    await expect(assertRoutedThroughLab('198.19.255.254', links)).rejects.toThrow(/refusing 198\.19\.255\.254: in lab mode targets must be routed through a lab link/);
    await expect(assertRoutedThroughLab('127.0.0.1', links)).rejects.toThrow(/goes out through lo/);
  });

  it('without root or CAP_NET_RAW, doctor monitor says what it needs', async () => {
    const run = promisify(execFile);
    // Still root, but without CAP_NET_RAW: exactly the capability the monitor needs.
    const err = await run('setpriv', ['--bounding-set=-net_raw', '--inh-caps=-net_raw', process.execPath, join(ROOT, 'bin/doctor.js'), 'monitor', '--host', 'compute-1=127.0.0.9', '--inspector', inspectorUrl]).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/needs root or CAP_NET_RAW .*setcap cap_net_raw\+ep/);
  });
});

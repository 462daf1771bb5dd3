/** The monitor for real: raw ICMP to namespace hosts, a real link taken down. Needs root. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabState } from '../../src/lab/index.js';
import { assertRoutedThroughLab } from '../../src/lab/index.js';
import { eventually } from '../helpers/lab.js';
import type { Received } from '../helpers/http.js';
import { labWithInspector, watchLab } from '../helpers/monitor.js';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('ICMP monitor on the embedded lab', () => {
  let lab: Awaited<ReturnType<typeof labWithInspector>>;
  let state: LabState;
  let inspectorUrl: string;
  let received: Received[];

  beforeAll(async () => {
    lab = await labWithInspector(2, 'doctor-icmp-');
    state = lab.state;
    inspectorUrl = lab.inspector.url;
    received = lab.inspector.received;
  });
  afterAll(async () => {
    await lab?.remove();
  });

  it('detects a real link-down, reports the exact Doctor payload, and sees the host come back', async () => {
    const links = state.hosts.map((h) => h.vethRoot);
    for (const h of state.hosts) await assertRoutedThroughLab(h.hostIp, links);
    const { monitor, downs, ups } = await watchLab(state, inspectorUrl);
    try {
      await monitor.ready(5_000);
      const victim = state.hosts[1]!;
      const before = Date.now();
      execFileSync('ip', ['-n', victim.namespace, 'link', 'set', 'dev', victim.vethHost, 'down']);
      await eventually(() => received[0], 5_000, 'the report to the inspector');
      expect(downs.map((d) => d.host)).toEqual(['compute-2']);
      expect(downs[0]!.detectedAt).toBeGreaterThan(before);
      const hit = received[0]!;
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

/** Fault injection over SSH on the embedded lab, seen by the real ICMP monitor. Needs root. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { ConfigError, processState } from '../../src/shared/index.js';
import { restoreHostLink, rotateHostKey, type LabState, type LabHostState } from '../../src/lab/index.js';
import { fetchFaultLog, HostKeyError, injectFault, parseFaultLog, SshSession, type SshAuth } from '../../src/orchestrator/index.js';
import { eventually } from '../helpers/lab.js';
import type { Received } from '../helpers/http.js';
import { labWithInspector, watchLab } from '../helpers/monitor.js';

/** The packet-filter chains a fault made inside the host (iptables -S, from outside its sshd). */
const faultChains = (h: LabHostState) =>
  execFileSync('ip', ['netns', 'exec', h.namespace, 'iptables', '-w', '-S'], { encoding: 'utf8' }).split('\n').filter((l) => /DOCTOR-/.test(l));
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
  /** Runs `fn` while the ICMP monitor watches the lab's hosts (ready first, stopped after). */
  const watching = async (fn: (seen: Pick<Awaited<ReturnType<typeof watchLab>>, 'downs' | 'ups'>) => Promise<void>) => {
    const { monitor, downs, ups } = await watchLab(state, inspectorUrl);
    try {
      await monitor.ready();
      await fn({ downs, ups });
    } finally {
      monitor.stop();
    }
  };

  it('takes the link down over SSH; the monitor reports the Doctor event; the link comes back by itself', async () => {
    const host = state.hosts[0]!;
    const { monitor, downs, ups } = await watchLab(state, inspectorUrl);
    try {
      await monitor.ready();
      const target = { host: host.hostIp };
      const fault = await injectFault({ target, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, auth);
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

  it('an ICMP blackhole: the monitor reports the host down while its link and SSH stay up; the host counts the drops and removes its filter', async () => {
    const host = state.hosts[0]!;
    await watching(async ({ downs, ups }) => {
      const target = { host: host.hostIp };
      const fault = await injectFault({ target, computeIp: host.hostIp, fault: { kind: 'icmp-blackhole' }, durationS: 2, remoteDir: host.dir }, auth);
      await eventually(() => downs.find((d) => d.host === host.name), 10_000, 'the monitor to see the host down');
      // A gray failure: the host is cut off from ICMP only.
      expect(linkUp(host)).toBe(true);
      expect(faultChains(host).some((l) => /^-A INPUT -d 198\.18\.\d+\.\d+\/32 -j DOCTOR-/.test(l))).toBe(true);
      const ssh = await SshSession.connect(target, auth);
      try {
        expect((await ssh.exec('echo still here')).stdout.trim()).toBe('still here');
      } finally {
        ssh.close();
      }
      await eventually(() => ups.find((u) => u.host === host.name && u.from === 'down'), 10_000, 'the host to answer ICMP again');
      const log = await fetchFaultLog(fault, target, auth, Date.now() + 15_000);
      expect(log.error).toBeUndefined();
      expect(log.fault).toBe('icmp-blackhole');
      expect(log.dropped!).toBeGreaterThan(0);
      expect(log.upAt! - log.downAt!).toBeGreaterThanOrEqual(2_000);
      expect(log.downAt!).toBeLessThan(downs.find((d) => d.host === host.name)!.detectedAt);
      expect(faultChains(host)).toEqual([]);
      expect(readdirSync(host.dir).filter((f) => f.startsWith('doctor-fault-'))).toEqual([]);
    });
  });

  it('the lab puts a packet-filter fault back at once: its script undoes it on SIGTERM, and the filter of a killed script goes too', async () => {
    const host = state.hosts[0]!;
    const target = { host: host.hostIp };
    // Stopped by the lab: the script puts the fault back itself and says so in its log.
    const loss = await injectFault({ target, computeIp: host.hostIp, fault: { kind: 'icmp-loss', percent: 100 }, durationS: 30, remoteDir: host.dir }, auth);
    await eventually(() => faultChains(host).length > 0 || undefined, 10_000, 'the filter to be made');
    expect(faultChains(host).join('\n')).toContain('-m statistic --mode random --probability 1.00000000000 -j DROP');
    const { stopped } = await restoreHostLink(host, { stopping: loss.scriptPath });
    expect(stopped).toContain(loss.pid);
    expect(faultChains(host)).toEqual([]);
    const log = parseFaultLog(readFileSync(loss.logPath, 'utf8'));
    expect(log).toMatchObject({ fault: 'icmp-loss:100', dev: host.vethHost });
    expect(log.upAt! - log.downAt!).toBeLessThan(30_000);
    expect(log.dropped).toBeGreaterThanOrEqual(0);
    // A script killed outright leaves its filter behind: the lab's restore removes it all the same.
    const blackhole = await injectFault({ target, computeIp: host.hostIp, fault: { kind: 'icmp-blackhole' }, durationS: 30, remoteDir: host.dir }, auth);
    await eventually(() => faultChains(host).length > 0 || undefined, 10_000, 'the filter to be made');
    process.kill(-blackhole.pid!, 'SIGKILL');
    await eventually(() => ['Z', undefined].includes(processState(blackhole.pid!)) || undefined, 5_000, 'the killed script to be gone');
    expect(faultChains(host).length).toBeGreaterThan(0);
    await restoreHostLink(host, { stopping: blackhole.scriptPath });
    expect(faultChains(host)).toEqual([]);
    expect(parseFaultLog(readFileSync(blackhole.logPath, 'utf8')).upAt).toBeUndefined(); // it never got to say so
    for (const f of [loss.scriptPath, loss.logPath, blackhole.scriptPath, blackhole.logPath]) execFileSync('rm', ['-f', f]);
  });

  it('a freeze: the host\'s processes stopped and its traffic dropped, its link up; the monitor sees it down; all continued after', async () => {
    const host = state.hosts[0]!;
    await watching(async ({ downs, ups }) => {
      const target = { host: host.hostIp };
      const fault = await injectFault({ target, computeIp: host.hostIp, fault: { kind: 'freeze' }, durationS: 2, remoteDir: host.dir }, auth);
      const down = await eventually(() => downs.find((d) => d.host === host.name), 10_000, 'the monitor to see the host down');
      await eventually(() => processState(host.sshdPid!) === 'T' || undefined, 2_000, 'its sshd stopped (seen from outside)');
      expect(linkUp(host)).toBe(true);
      await expect(SshSession.connect(target, { ...auth, connectTimeoutMs: 500 })).rejects.toThrow();
      await eventually(() => ups.find((u) => u.host === host.name && u.from === 'down'), 10_000, 'the host to answer again');
      const log = await fetchFaultLog(fault, target, auth, Date.now() + 15_000);
      expect(log).toMatchObject({ fault: 'freeze', dev: host.vethHost });
      expect(log.frozen!).toBeGreaterThanOrEqual(1);
      expect(log.dropped!).toBeGreaterThan(0);
      expect(log.downAt!).toBeLessThan(down.detectedAt);
      expect(log.upAt! - log.downAt!).toBeGreaterThanOrEqual(2_000);
      expect(processState(host.sshdPid!)).not.toBe('T');
      expect(faultChains(host)).toEqual([]);
      expect(readdirSync(host.dir).filter((f) => f.startsWith('doctor-fault-'))).toEqual([]); // the list of frozen processes too
    });
  });

  it('a power-off of a lab host: its link down and its processes stopped, then on again', async () => {
    const host = state.hosts[1]!;
    const target = { host: host.hostIp };
    const fault = await injectFault({ target, computeIp: host.hostIp, fault: { kind: 'power-off' }, durationS: 1, remoteDir: host.dir }, auth);
    await eventually(() => (!linkUp(host) && processState(host.sshdPid!) === 'T') || undefined, 10_000, 'the host to be off: link down, sshd stopped');
    const log = await fetchFaultLog(fault, target, auth, Date.now() + 15_000);
    expect(log).toMatchObject({ fault: 'power-off', dev: host.vethHost });
    expect(log.frozen!).toBeGreaterThanOrEqual(1);
    expect(log.upAt! - log.downAt!).toBeGreaterThanOrEqual(1_000);
    expect(linkUp(host)).toBe(true);
    expect(processState(host.sshdPid!)).not.toBe('T');
  });

  it('a flap of 3 outages of 300 ms: the monitor sees each, the script logs each, then the host stays up', async () => {
    const host = state.hosts[0]!;
    await watching(async ({ downs, ups }) => {
      const target = { host: host.hostIp };
      const fault = await injectFault({ target, computeIp: host.hostIp, fault: { kind: 'flap', count: 3, outageMs: 300 }, durationS: 30, remoteDir: host.dir }, auth);
      const log = await fetchFaultLog(fault, target, auth, Date.now() + 15_000);
      expect(log).toMatchObject({ fault: 'flap:3x300', dev: host.vethHost });
      expect(log.outages).toHaveLength(3);
      for (const o of log.outages!) expect(o.upAt! - o.downAt).toBeGreaterThanOrEqual(300);
      expect(log.downAt).toBe(log.outages![0]!.downAt);
      expect(log.upAt).toBe(log.outages![2]!.upAt);
      expect(log.dropped!).toBeGreaterThan(0);
      await eventually(() => ups.filter((u) => u.host === host.name && u.from === 'down').length === 3 || undefined, 5_000, 'the host back up after each outage');
      expect(downs.filter((d) => d.host === host.name)).toHaveLength(3);
      expect(faultChains(host)).toEqual([]);
      expect(linkUp(host)).toBe(true);
    });
  });

  it('refuses a host whose SSH key changed, and leaves its link alone', async () => {
    const host = state.hosts[1]!;
    await rotateHostKey(state, host.name);
    const err = await injectFault({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, auth).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as Error).message).toContain(`the SSH host key of ${host.hostIp} does not match ${state.knownHosts}`);
    expect((err as Error).message).toContain(`ssh-keygen -R '${host.hostIp}' -f ${state.knownHosts}`);
    expect(linkUp(host)).toBe(true);
    expect(readdirSync(host.dir).filter((f) => f.startsWith('doctor-fault-'))).toEqual([]);
  });

  it('connects anyway only with the explicit opt-out', async () => {
    const host = state.hosts[1]!; // its key was changed by the previous test
    const insecure = { privateKeyPath: state.harnessKey, insecureSkipHostKeyCheck: true };
    const fault = await injectFault({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 1, remoteDir: host.dir }, insecure);
    const log = await fetchFaultLog(fault, { host: host.hostIp }, insecure, Date.now() + 15_000);
    expect(log.upAt).toBeDefined();
    expect(linkUp(host)).toBe(true);
  });

  it('rejects a fault shorter than a second, naming the option', async () => {
    const host = state.hosts[0]!;
    await expect(injectFault({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 0.5 }, auth)).rejects.toThrow(ConfigError);
    await expect(injectFault({ target: { host: host.hostIp }, computeIp: host.hostIp, durationS: 0.5 }, auth)).rejects.toThrow(/^--duration: 0\.5 s is out of range/);
  });
});

/**
 * Reverse tunnels from a lab controller host (a namespace with its own sshd) to a service on this
 * machine's loopback, which the controller cannot reach otherwise. Real sshd, real namespaces. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LabState } from '../../src/lab/index.js';
import { ReverseTunnel } from '../../src/orchestrator/index.js';
import { temporaryLab } from '../helpers/hosts.js';

const REMOTE_PORT = 12346;

/** An HTTP GET from inside the controller's namespace: the body, or curl's error (async: the tunnel's local end is this process). */
async function fromController(state: LabState, url: string): Promise<string> {
  try {
    return (await promisify(execFile)('ip', ['netns', 'exec', state.controller!.namespace, 'curl', '-sS', '--max-time', '2', url], { encoding: 'utf8' })).stdout;
  } catch (err) {
    return `curl failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`;
  }
}

/** PIDs of the processes that listen on `port` inside the controller's namespace (sshd's session, for a tunnel). */
function listenersOn(state: LabState, port: number): number[] {
  const out = execFileSync('ip', ['netns', 'exec', state.controller!.namespace, 'ss', '-Htlnp', `sport = :${port}`], { encoding: 'utf8' });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

describe('reverse tunnels from a controller', () => {
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let server: Server;
  let localPort: number;
  let hits = 0;

  beforeAll(async () => {
    lab = await temporaryLab(1, 'doctor-tunnel-', { controller: true });
    server = createServer((_req, res) => {
      hits += 1;
      res.end(`consumer ${hits}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    localPort = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await lab?.remove();
  });

  it('reach the local service only through the tunnel; a killed tunnel process on the controller is reconnected; close removes it', async () => {
    const { state } = lab;
    const controller = state.controller!;
    // Without a tunnel the controller has no way to the service: its loopback is its own, and the service listens on ours only.
    expect(await fromController(state, `http://127.0.0.1:${localPort}/`)).toMatch(/curl failed: .*(refused|Couldn't connect)/i);
    expect(await fromController(state, `http://${controller.rootIp}:${localPort}/`)).toMatch(/curl failed: .*(refused|Couldn't connect)/i);
    expect(await fromController(state, `http://127.0.0.1:${REMOTE_PORT}/`)).toMatch(/curl failed/);

    const tunnel = await ReverseTunnel.open({
      target: { host: controller.hostIp, username: 'root' }, auth: { privateKeyPath: state.harnessKey, knownHostsPath: state.knownHosts },
      remote: { port: REMOTE_PORT }, local: { host: '127.0.0.1', port: localPort },
    });
    try {
      expect(tunnel.remoteAddress).toEqual({ host: '127.0.0.1', port: REMOTE_PORT });
      expect(await fromController(state, `http://127.0.0.1:${REMOTE_PORT}/`)).toMatch(/^consumer \d+$/);

      // Kill the tunnel's server side (the sshd session that holds the port): the tunnel comes back by itself.
      const [pid] = listenersOn(state, REMOTE_PORT);
      expect(pid).toBeGreaterThan(0);
      const back = new Promise((r) => tunnel.once('reconnected', r));
      process.kill(pid!, 'SIGKILL');
      await back;
      expect(tunnel.reconnects).toBe(1);
      expect(listenersOn(state, REMOTE_PORT)).not.toContain(pid);
      const before = hits;
      expect(await fromController(state, `http://127.0.0.1:${REMOTE_PORT}/`)).toBe(`consumer ${before + 1}`);
    } finally {
      await tunnel.close();
    }
    // Closed: the port is gone from the controller, and stays gone (no reconnection after close).
    await new Promise((r) => setTimeout(r, 500));
    expect(listenersOn(state, REMOTE_PORT)).toEqual([]);
    expect(await fromController(state, `http://127.0.0.1:${REMOTE_PORT}/`)).toMatch(/curl failed/);
  }, 60_000);

  it('a compute reaches the controller over the lab network (this machine forwards between lab links only), and not once its link is down', async () => {
    const { state } = lab;
    const compute = state.hosts[0]!;
    const controller = state.controller!;
    const tcp = async (ns: string, ip: string) => {
      try {
        await promisify(execFile)('ip', ['netns', 'exec', ns, 'timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/22`]);
        return 'open';
      } catch {
        return 'unreachable';
      }
    };
    expect(await tcp(compute.namespace, controller.hostIp)).toBe('open');
    expect(await tcp(controller.namespace, compute.hostIp)).toBe('open');
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe('0'); // never machine-wide
    execFileSync('ip', ['-n', compute.namespace, 'link', 'set', 'dev', compute.vethHost, 'down']);
    try {
      expect(await tcp(compute.namespace, controller.hostIp)).toBe('unreachable');
    } finally {
      execFileSync('ip', ['-n', compute.namespace, 'link', 'set', 'dev', compute.vethHost, 'up']);
    }
    // Back by itself with the link, as after a fault: nothing but the link was touched.
    expect(await tcp(compute.namespace, controller.hostIp)).toBe('open');
  }, 30_000);

  it('a compute host refuses to forward: open fails naming the host and what sshd needs', async () => {
    const { state } = lab;
    const compute = state.hosts[0]!;
    await expect(ReverseTunnel.open({
      target: { host: compute.hostIp, username: 'root' }, auth: { privateKeyPath: state.harnessKey, knownHostsPath: state.knownHosts },
      remote: { port: REMOTE_PORT }, local: { host: '127.0.0.1', port: localPort },
    })).rejects.toThrow(new RegExp(`^${compute.hostIp.replace(/\./g, '\\.')} refused to forward its 127\\.0\\.0\\.1:${REMOTE_PORT} \\(sshd needs AllowTcpForwarding`));
  }, 30_000);
});

/**
 * The run's I/O edges without root: a network that answers ICMP for every host not "down", and a fault
 * injector that takes a host down on it (and brings it back after the fault's duration, as the host's own
 * timer would). Provisioning, the services and teardown stay real, against the simulated cloud.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeIcmp, internetChecksum, type IcmpTransport } from '../../src/monitor/index.js';
import type { FaultInjector, RunEdges } from '../../src/orchestrator/index.js';

export class FakeNetwork implements IcmpTransport {
  readonly down = new Set<string>();
  readonly probed = new Set<string>();
  private listener: ((packet: Buffer, source: string) => void) | undefined;

  async send(ip: string, message: Buffer): Promise<void> {
    this.probed.add(ip);
    const msg = decodeIcmp(message, false);
    if (!msg || this.down.has(ip)) return;
    const reply = Buffer.from(message);
    reply[0] = 0; // echo reply
    reply.writeUInt16BE(0, 2);
    reply.writeUInt16BE(internetChecksum(reply), 2);
    const header = Buffer.alloc(20);
    header[0] = 0x45;
    header.writeUInt16BE(20 + reply.length, 2);
    header[8] = 64;
    header[9] = 1;
    setTimeout(() => this.listener?.(Buffer.concat([header, reply]), ip), 1);
  }

  onPacket(listener: (packet: Buffer, source: string) => void): void {
    this.listener = listener;
  }

  close(): void {}
}

export interface FakeEdges {
  net: FakeNetwork;
  edges: Partial<RunEdges>;
  /** Every call the fault injector took, in order. */
  calls: string[];
  /** Every command run on a controller, as it reached the controller's shell. */
  commands: string[];
}

/** `unreachable`: hosts (computes, controllers) that cannot be reached over SSH (refused, as SSH would). */
export function fakeEdges(opts: { resolve?: Record<string, string>; unreachable?: string[] } = {}): FakeEdges {
  const net = new FakeNetwork();
  const calls: string[] = [];
  const commands: string[] = [];
  const downAt = new Map<string, number>();
  const faults: FaultInjector = {
    async reach(compute) {
      calls.push(`reach ${compute.ip}`);
      if (opts.unreachable?.includes(compute.ip)) throw new Error(`refusing to inject: connect ECONNREFUSED ${compute.ip}:22`);
      return { offsetMs: 0, uncertaintyMs: 0.1, samples: 1, bestRoundTripMs: 0.2 };
    },
    async inject(compute, plan) {
      calls.push(`inject ${compute.ip}`);
      net.down.add(compute.ip);
      downAt.set(compute.ip, Date.now());
      return { ...plan, startedAt: Date.now() };
    },
    async awaitRestored(compute, plan) {
      calls.push(`await ${compute.ip}`);
      await new Promise((r) => setTimeout(r, 50));
      net.down.delete(compute.ip);
      return { dev: 'eth0', downAt: downAt.get(compute.ip)!, upAt: Date.now(), raw: plan.logPath };
    },
  };
  return {
    net, calls, commands,
    edges: {
      openIcmp: async () => net, faults, controller: localController(calls, opts.unreachable, commands),
      // The simulated Aodh runs here and reaches the consumer directly: a tunnel is only a call to remember.
      tunnel: async (t) => {
        calls.push(`tunnel ${t.target.host}:${t.remote.port}`);
        return { reconnects: 0, close: async () => {} };
      },
      resolveHost: async (name) => {
        const ip = opts.resolve?.[name];
        if (!ip) throw new Error(`getaddrinfo ENOTFOUND ${name}`);
        return ip;
      },
    },
  };
}

/**
 * A controller that is this machine: its commands run in a local shell, its files are local files (a test
 * keeps them in a temporary folder through its controllerLayout). Each session opened is a call.
 */
export function localController(calls: string[], unreachable: string[] = [], commands: string[] = []): RunEdges['controller'] {
  return async (node) => {
    calls.push(`controller ${node.ip}`);
    if (unreachable.includes(node.ip)) throw new Error(`SSH to root@${node.ip}:22 failed: connect ECONNREFUSED ${node.ip}:22`);
    return {
      exec: (command, timeoutMs = 30_000) => new Promise((resolve) => {
        commands.push(command);
        execFile('sh', ['-c', command], { timeout: timeoutMs }, (err, stdout, stderr) => {
          resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 });
        });
      }),
      readFile: async (path) => readFileSync(path, 'utf8'),
      writeFile: async (path, data, mode) => writeFileSync(path, data, { mode }),
      close() {},
    };
  };
}

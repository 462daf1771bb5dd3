/** The run's I/O edges (ICMP, the fault injector, processes, name lookup, controller sessions): injectable for in-process tests. */
import { lookup } from 'node:dns/promises';
import { FaultInjectionError, type Logger, runProcess, type Runner } from '../shared/index.js';
import { openIcmp, type IcmpTransport } from '../monitor/index.js';
import type { ControllerNode, ControllerSession } from './controller/index.js';
import type { ComputeAccess } from './environment.js';
import { fetchFaultLog, injectFault, type FaultLog, type FaultPlan, type FaultRequest, type InjectedFault } from './fault/inject.js';
import { measureClockOffset, type ClockOffset } from './fault/clock.js';
import { SshSession } from './fault/ssh.js';
import { ReverseTunnel, type TunnelOptions } from './tunnel.js';

/** How a fault reaches a compute host: over SSH unless a test gives another. */
export interface FaultInjector {
  /** Refuses (FaultInjectionError) unless the host answers over SSH; its clock against ours when measurable. */
  reach(compute: ComputeAccess, log: Logger): Promise<ClockOffset | undefined>;
  inject(compute: ComputeAccess, plan: FaultPlan, request: FaultRequest): Promise<InjectedFault>;
  /** Waits for the host's own timer to bring the link back; the script's log. */
  awaitRestored(compute: ComputeAccess, plan: FaultPlan, deadline: number): Promise<FaultLog>;
}

/** The run's I/O edges: injectable, so provisioning and teardown are tested in-process without root. */
export interface RunEdges {
  openIcmp: () => Promise<IcmpTransport>;
  faults: FaultInjector;
  runProcess: Runner;
  resolveHost: (name: string) => Promise<string>;
  /** A session on a node (a controller for its set-up and restore, an installer's node for discovery). */
  controller: (node: ControllerNode, log: Logger) => Promise<ControllerSession>;
  /** A reverse tunnel from a node to a service of this machine. */
  tunnel: (opts: TunnelOptions) => Promise<Pick<ReverseTunnel, 'reconnects' | 'close'>>;
}

export const sshFaults: FaultInjector = {
  async reach(compute, log) {
    const session = await SshSession.connect(compute.ssh.target, { ...compute.ssh.auth, logger: log }).catch((err: Error) => {
      throw new FaultInjectionError(`refusing to inject: ${err.message}`, { cause: err });
    });
    try {
      return await measureClockOffset(session); // the fault script stamps the host's clock: relate it to ours first
    } catch (err) {
      log.warn({ host: compute.name, err: (err as Error).message }, 'could not measure the host clock; its instants stay uncorrected');
      return undefined;
    } finally {
      session.close();
    }
  },
  inject: (compute, plan, request) => injectFault(request, compute.ssh.auth, plan),
  awaitRestored: (compute, plan, deadline) => fetchFaultLog(plan, compute.ssh.target, compute.ssh.auth, deadline),
};

export const DEFAULT_EDGES: RunEdges = {
  openIcmp: () => openIcmp({}), faults: sshFaults, runProcess, resolveHost: async (name) => (await lookup(name, { family: 4 })).address,
  controller: (node, log) => SshSession.connect(node.ssh.target, { ...node.ssh.auth, logger: log }),
  tunnel: (opts) => ReverseTunnel.open(opts),
};

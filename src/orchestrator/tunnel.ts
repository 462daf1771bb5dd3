/**
 * Reverse tunnels (what Doctor's `ssh -R <p>:localhost:<p> sleep 600` did, without a child process or a
 * time limit): a controller that cannot reach the harness gets a port on its own loopback that leads to a
 * service of the run (the consumer, the inspector). The tunnel keeps itself alive (SSH keepalives),
 * reconnects when it drops, and is closed by the run's teardown.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Client } from 'ssh2';
import { FaultInjectionError, type Logger, silentLogger } from '../shared/index.js';
import { openClient, type SshAuth, type SshTarget } from './fault/ssh.js';

export interface TunnelOptions {
  /** The controller, over SSH. */
  target: SshTarget;
  auth: SshAuth;
  /** Where the tunnel listens on the controller: its loopback by default, as Doctor's did. */
  remote: { host?: string; port: number };
  /** The service on this machine it leads to. */
  local: { host: string; port: number };
  logger?: Logger;
  /** Pause between reconnection attempts (default 200 ms). */
  retryMs?: number;
  /** SSH keepalive interval: a silent drop is noticed after three missed (default 2 s). */
  keepaliveMs?: number;
}

/**
 * One reverse tunnel. Emits 'reconnected' after a drop was repaired, 'dropped' when it went (with the
 * reason). `open` fails when the first connection or the port forward cannot be had.
 */
export class ReverseTunnel extends EventEmitter {
  /** How many times the tunnel came back after a drop. */
  reconnects = 0;
  private client: Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger;

  private constructor(private readonly opts: TunnelOptions) {
    super();
    this.log = (opts.logger ?? silentLogger()).child({ component: 'tunnel', controller: opts.target.host });
  }

  static async open(opts: TunnelOptions): Promise<ReverseTunnel> {
    const t = new ReverseTunnel(opts);
    await t.connect();
    return t;
  }

  /** The address the controller's services use to reach the local service. */
  get remoteAddress(): { host: string; port: number } {
    return { host: this.opts.remote.host ?? '127.0.0.1', port: this.opts.remote.port };
  }

  private async connect(): Promise<void> {
    const { host: bindHost, port } = this.remoteAddress;
    const { client } = await openClient(this.opts.target, { ...this.opts.auth, keepaliveMs: this.opts.keepaliveMs ?? 2_000, logger: this.log });
    try {
      await new Promise<void>((resolve, reject) => {
        client.forwardIn(bindHost, port, (err) => (err
          ? reject(new FaultInjectionError(`${this.opts.target.host} refused to forward its ${bindHost}:${port} (sshd needs AllowTcpForwarding yes or remote, and the port free): ${err.message}`, { cause: err }))
          : resolve()));
      });
    } catch (err) {
      client.end();
      throw err;
    }
    client.on('tcp connection', (_info, accept, reject) => {
      const local = connect(this.opts.local.port, this.opts.local.host);
      this.sockets.add(local);
      local.once('close', () => this.sockets.delete(local));
      local.once('error', (err) => {
        this.log.warn({ err: err.message }, 'the local end of the tunnel refused a connection');
        reject();
      });
      local.once('connect', () => {
        const channel = accept();
        channel.on('error', (err: Error) => this.log.debug({ err: err.message }, 'tunnel channel error'));
        local.removeAllListeners('error');
        local.on('error', () => channel.destroy());
        channel.pipe(local).pipe(channel);
      });
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      for (const s of this.sockets) s.destroy();
      if (this.closed) return;
      this.log.warn({ port }, 'tunnel dropped; reconnecting');
      this.emit('dropped', new Error(`the SSH connection to ${this.opts.target.host} closed`));
      this.again();
    });
    this.client = client;
  }

  private again(): void {
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.closed) return;
      this.connect().then(
        () => {
          if (this.closed) return void this.client?.end();
          this.reconnects += 1;
          this.log.info({ reconnects: this.reconnects }, 'tunnel reconnected');
          this.emit('reconnected');
        },
        (err: Error) => {
          this.log.warn({ err: err.message }, 'tunnel reconnection failed; trying again');
          this.again();
        },
      );
    }, this.opts.retryMs ?? 200);
  }

  /** Stops reconnecting, removes the forward and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    for (const s of this.sockets) s.destroy();
    if (!client) return;
    const { host, port } = this.remoteAddress;
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, 2_000); // a peer that does not answer does not hold the teardown
      client.once('close', () => {
        clearTimeout(done);
        resolve();
      });
      try {
        client.unforwardIn(host, port, () => client.end());
      } catch {
        client.end(); // not connected any more: nothing to unforward
      }
    });
  }
}

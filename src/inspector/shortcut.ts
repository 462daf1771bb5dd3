/**
 * Doctor's 2018 shortcut: besides resetting each VM through Nova, the inspector publishes the
 * `compute.instance.update` (state error) Nova would send, straight on the cloud's message bus, so
 * Ceilometer and Aodh need not wait for nova-api. The message is what oslo.messaging's notifier puts on
 * RabbitMQ: the 2.0 envelope (`oslo.version`, `oslo.message` holding the JSON of the notification and
 * its `_unique_id`), on the control exchange (Nova's: `nova`) with routing key `<topic>.info`.
 * amqplib speaks AMQP 0-9-1, RabbitMQ's own protocol, as oslo.messaging's rabbit driver (kombu) does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { ConfigError, HarnessError, preciseNow, silentLogger, type Clock, type Logger } from '../shared/index.js';

/** One broker of an oslo.messaging transport URL; the password stays out of every message. */
export interface BusHost {
  hostname: string;
  port: number;
  username: string;
  password: string;
}

export interface TransportUrl {
  hosts: BusHost[];
  vhost: string;
}

/**
 * `rabbit://user:pass@host:port[,user:pass@host:port…]/vhost[?…]` (oslo.messaging's form; several
 * brokers for a cluster). `field` names where the URL came from, for the error.
 */
export function parseTransportUrl(url: string, field: string): TransportUrl {
  const m = /^(rabbit|kombu|amqp):\/\/([^/?#]*)(?:\/([^?#]*))?(?:[?#].*)?$/.exec(url.trim());
  if (!m) {
    const scheme = /^([a-z0-9+]+):\/\//i.exec(url)?.[1];
    throw new ConfigError(field, scheme ? `the shortcut publishes on RabbitMQ: a rabbit:// transport URL, not ${scheme}://` : 'must be a transport URL like rabbit://user:password@host:5672/');
  }
  const hosts = m[2]!.split(',').filter(Boolean).map((part, i): BusHost => {
    const at = part.lastIndexOf('@');
    const cred = at < 0 ? '' : part.slice(0, at);
    const hostPort = at < 0 ? part : part.slice(at + 1);
    const hp = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(hostPort);
    if (!hp) throw new ConfigError(field, `broker ${i + 1} of the transport URL has no host (expected user:password@host:port)`);
    const colon = cred.indexOf(':');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new ConfigError(field, `broker ${i + 1} of the transport URL has a badly escaped user or password`);
      }
    };
    return {
      hostname: hp[1]!.replace(/^\[|\]$/g, ''), port: hp[2] ? Number(hp[2]) : 5672,
      username: decode(colon < 0 ? cred : cred.slice(0, colon)) || 'guest', password: decode(colon < 0 ? '' : cred.slice(colon + 1)) || 'guest',
    };
  });
  if (!hosts.length) throw new ConfigError(field, 'the transport URL names no broker (expected rabbit://user:password@host:5672/)');
  const vhost = m[3] ? decodeURIComponent(m[3]) : '';
  return { hosts, vhost: vhost || '/' };
}

/** The URL as reports show it: the brokers and the vhost, no user or password. */
export function shownTransportUrl(u: TransportUrl): string {
  return `rabbit://${u.hosts.map((h) => `${h.hostname.includes(':') ? `[${h.hostname}]` : h.hostname}:${h.port}`).join(',')}/${u.vhost === '/' ? '' : encodeURIComponent(u.vhost)}`;
}

/** Where a message goes: the control exchange and the notification topic of the service it stands for. */
export interface BusTarget {
  exchange: string;
  topic: string;
}

/** Nova's: `control_exchange` nova, `[oslo_messaging_notifications] topics` notifications. */
export const NOVA_BUS_TARGET: BusTarget = { exchange: 'nova', topic: 'notifications' };

/** A VM the shortcut speaks for. */
export interface ShortcutVm {
  id: string;
  projectId?: string;
}

/** One message published: its `_unique_id` (what Ceilometer logs on receipt) and when it left. */
export interface ShortcutSend {
  vmId: string;
  uniqueId: string;
  sentAt?: number;
  error?: string;
}

/** oslo.messaging's `str(timeutils.utcnow())`: `2026-12-02 13:51:17.123456`. */
function osloTimestamp(d: Date): string {
  return `${d.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

/** The AMQP body of one notification, as oslo.messaging's notifier and amqp driver build it. */
export function instanceUpdateMessage(vm: ShortcutVm, publisherId: string, at: Date, uniqueId = randomBytes(16).toString('hex')): { body: Buffer; uniqueId: string } {
  const message = {
    message_id: randomUUID(), publisher_id: publisherId, event_type: 'compute.instance.update', priority: 'INFO',
    // What Ceilometer's event definitions read (instance_id, state, tenant_id) and Aodh matches the alarm's project with.
    payload: { instance_id: vm.id, state: 'error', ...(vm.projectId ? { tenant_id: vm.projectId } : {}) },
    timestamp: osloTimestamp(at),
    _unique_id: uniqueId,
  };
  return { body: Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) })), uniqueId };
}

export interface MessageBusOptions {
  url: TransportUrl;
  target?: BusTarget;
  /** Refuses a broker the run must not reach (lab mode: only through a lab link). */
  guard?: (host: string) => Promise<void>;
  publisherId?: string;
  connectTimeoutMs?: number;
  now?: Clock;
  logger?: Logger;
}

/** The inspector's side of the bus: connected before any event, one confirm channel. */
export class MessageBusShortcut {
  private closed = false;
  private lost: Error | undefined;

  private constructor(
    private readonly conn: ChannelModel,
    private readonly channel: ConfirmChannel,
    readonly broker: string,
    readonly target: BusTarget,
    private readonly publisherId: string,
    private readonly now: Clock,
    private readonly log: Logger,
  ) {
    conn.on('error', (err: Error) => {
      this.lost = err;
      log.warn({ err: err.message, broker }, 'message bus connection error');
    });
    conn.on('close', () => {
      if (!this.closed) this.lost ??= new Error(`the connection to ${broker} closed`);
    });
    channel.on('error', (err: Error) => {
      this.lost = err;
      log.warn({ err: err.message, broker }, 'message bus channel error');
    });
  }

  /** Connects to the first broker that answers; the exchange must exist (Nova declared it when it first notified). */
  static async connect(opts: MessageBusOptions): Promise<MessageBusShortcut> {
    const target = opts.target ?? NOVA_BUS_TARGET;
    const log = (opts.logger ?? silentLogger()).child({ component: 'shortcut' });
    const failures: string[] = [];
    for (const h of opts.url.hosts) {
      const broker = `${h.username}@${h.hostname}:${h.port}`;
      try {
        await opts.guard?.(h.hostname);
        const conn = await connect(
          { protocol: 'amqp', hostname: h.hostname, port: h.port, username: h.username, password: h.password, vhost: opts.url.vhost, heartbeat: 30 },
          { timeout: opts.connectTimeoutMs ?? 10_000, noDelay: true },
        );
        // Until the instance exists, an error here must not go unhandled.
        const early = (err: Error) => log.warn({ err: err.message, broker }, 'message bus connection error');
        conn.on('error', early);
        try {
          const channel = await conn.createConfirmChannel();
          channel.on('error', early);
          try {
            await channel.checkExchange(target.exchange);
          } catch (err) {
            throw new HarnessError(`the exchange "${target.exchange}" does not exist on ${broker} (vhost ${opts.url.vhost}): is this the broker Nova notifies on?`, { cause: err });
          }
          const bus = new MessageBusShortcut(conn, channel, broker, target, opts.publisherId ?? 'doctor-harness.inspector', opts.now ?? preciseNow, log);
          conn.off('error', early);
          channel.off('error', early);
          log.info({ broker, exchange: target.exchange, topic: `${target.topic}.info` }, 'message bus shortcut ready');
          return bus;
        } catch (err) {
          await conn.close().catch(() => undefined);
          throw err;
        }
      } catch (err) {
        // A broker's error may quote what it was given: never the password.
        failures.push(`${broker}: ${(err as Error).message.split(h.password).join('***')}`);
      }
    }
    throw new HarnessError(`the message-bus shortcut could not connect to any broker of the transport URL: ${failures.join('; ')}`);
  }

  /** One compute.instance.update (state error) per VM, written in one go, then confirmed by the broker. */
  async publish(vms: ShortcutVm[]): Promise<ShortcutSend[]> {
    const sends: ShortcutSend[] = [];
    if (this.lost) return vms.map((v) => ({ vmId: v.id, uniqueId: '', error: `the message bus is gone: ${this.lost!.message}` }));
    const key = `${this.target.topic}.info`;
    for (const vm of vms) {
      const { body, uniqueId } = instanceUpdateMessage(vm, this.publisherId, new Date());
      const send: ShortcutSend = { vmId: vm.id, uniqueId };
      try {
        this.channel.publish(this.target.exchange, key, body, { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
        send.sentAt = this.now();
      } catch (err) {
        send.error = (err as Error).message;
      }
      sends.push(send);
    }
    try {
      await this.channel.waitForConfirms();
    } catch (err) {
      for (const s of sends) s.error ??= `the broker did not confirm it: ${(err as Error).message}`;
    }
    return sends;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.conn.close().catch((err: Error) => {
      if (!this.lost) throw new HarnessError(`closing the message bus connection to ${this.broker} failed: ${err.message}`, { cause: err });
    });
  }
}

import { describe, expect, it } from 'vitest';
import { instanceUpdateMessage, MessageBusShortcut, parseTransportUrl, shownTransportUrl } from '../../src/inspector/index.js';
import { busOfNovaConf } from '../../src/orchestrator/shortcut.js';
import { ConfigError, freePort } from '../../src/shared/index.js';
import { createServer } from 'node:net';

describe('the message-bus shortcut', () => {
  it('reads oslo.messaging transport URLs, several brokers and escaped passwords included, and never shows the password', () => {
    const u = parseTransportUrl('rabbit://openstack:p%40ss%2Fw@198.18.0.254:5672,guest:x@[fd00::2]/nova%2Fvh?ssl=0', 'TRANSPORT_URL');
    expect(u.hosts).toEqual([
      { hostname: '198.18.0.254', port: 5672, username: 'openstack', password: 'p@ss/w' },
      { hostname: 'fd00::2', port: 5672, username: 'guest', password: 'x' },
    ]);
    expect(u.vhost).toBe('nova/vh');
    expect(shownTransportUrl(u)).toBe('rabbit://198.18.0.254:5672,[fd00::2]:5672/nova%2Fvh');
    expect(parseTransportUrl('rabbit://h/', 'x').vhost).toBe('/');
  });

  it('refuses what is not a RabbitMQ transport URL, naming where it came from', () => {
    for (const [url, says] of [['kafka://h:9092/', /rabbit:\/\/ transport URL, not kafka/], ['nonsense', /like rabbit:\/\/user:password@host:5672/], ['rabbit://u:p@:5672/', /broker 1 .* has no host/], ['rabbit:///', /names no broker/]] as const) {
      const err = (() => {
        try {
          parseTransportUrl(url, '/etc/nova/nova.conf on ctl0');
        } catch (e) {
          return e as ConfigError;
        }
        return undefined;
      })();
      expect(err, url).toBeInstanceOf(ConfigError);
      expect(err!.message).toContain('/etc/nova/nova.conf on ctl0');
      expect(err!.message).toMatch(says);
    }
  });

  it('builds the notification as oslo.messaging puts it on the bus: the 2.0 envelope around the JSON message', () => {
    const at = new Date('2026-12-02T13:51:17.123Z');
    const { body, uniqueId } = instanceUpdateMessage({ id: 'vm-1', projectId: 'p-1' }, 'doctor-harness.inspector', at);
    const envelope = JSON.parse(body.toString()) as Record<string, string>;
    expect(Object.keys(envelope).sort()).toEqual(['oslo.message', 'oslo.version']);
    expect(envelope['oslo.version']).toBe('2.0');
    const msg = JSON.parse(envelope['oslo.message']!) as Record<string, unknown>;
    expect(msg).toMatchObject({
      event_type: 'compute.instance.update', priority: 'INFO', publisher_id: 'doctor-harness.inspector', timestamp: '2026-12-02 13:51:17.123000',
      payload: { instance_id: 'vm-1', state: 'error', tenant_id: 'p-1' }, _unique_id: uniqueId,
    });
    expect(uniqueId).toMatch(/^[0-9a-f]{32}$/);
    expect(msg['message_id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('takes the URL, the control exchange and the first notification topic from nova.conf', () => {
    const conf = '[DEFAULT]\ntransport_url = rabbit://nova:pw@10.0.0.5:5672/\ncontrol_exchange = nova\n\n[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = notifications,doctor\n';
    expect(busOfNovaConf(conf, 'nova.conf on ctl0')).toEqual({ url: 'rabbit://nova:pw@10.0.0.5:5672/', target: { exchange: 'nova', topic: 'notifications' } });
    expect(busOfNovaConf('[DEFAULT]\ntransport_url = rabbit://h/\n', 'x').target).toEqual({ exchange: 'nova', topic: 'notifications' });
    expect(() => busOfNovaConf('[DEFAULT]\ndebug = true\n', 'nova.conf on ctl0')).toThrow(/nova.conf on ctl0 has no \[DEFAULT\] transport_url: set TRANSPORT_URL/);
  });

  it('names each broker it could not reach, without its password, and refuses a broker the guard refuses', async () => {
    // A listener that closes every connection: no AMQP handshake.
    const port = await freePort();
    const server = createServer((s) => s.destroy()).listen(port, '127.0.0.1');
    server.on('error', () => {});
    try {
      const url = parseTransportUrl(`rabbit://openstack:sekrit-pw@127.0.0.1:${port},openstack:sekrit-pw@198.51.100.7:5672/`, 'TRANSPORT_URL');
      const err = await MessageBusShortcut.connect({
        url, connectTimeoutMs: 2000,
        guard: async (h) => {
          if (h !== '127.0.0.1') throw new Error(`refusing ${h}: not routed through a lab link`);
        },
      }).then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(new RegExp(`could not connect to any broker.*openstack@127\\.0\\.0\\.1:${port}: .*openstack@198\\.51\\.100\\.7:5672: refusing 198\\.51\\.100\\.7`));
      expect(err?.message).not.toContain('sekrit-pw');
    } finally {
      server.close();
    }
  });
});

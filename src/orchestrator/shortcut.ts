/**
 * Doctor's message-bus shortcut for a run: the transport URL (TRANSPORT_URL, else the first controller's
 * nova.conf through the installer's access), connected before the fault so the event pays no handshake.
 */
import { ConfigError, HarnessError } from '../shared/index.js';
import { MessageBusShortcut, NOVA_BUS_TARGET, parseTransportUrl, shownTransportUrl, type BusTarget } from '../inspector/index.js';
import { asRoot, iniValue } from './controller/index.js';
import type { Logger } from '../shared/index.js';
import type { RunConfig } from './config.js';
import type { RunEdges } from './edges.js';
import type { Environment, TeardownRegistry } from './environment.js';
import type { RunResults } from './results.js';

/** What of the run the shortcut needs. */
export interface ShortcutContext {
  config: RunConfig;
  edges: Pick<RunEdges, 'controller'>;
  log: Logger;
  logs: { get(component: string): Logger };
  progress: (line: string) => void;
  teardown: TeardownRegistry;
  results: RunResults;
}

/** Nova's transport URL, control exchange and notification topic, as its nova.conf says. */
export function busOfNovaConf(text: string, where: string): { url: string; target: BusTarget } {
  const url = iniValue(text, 'DEFAULT', 'transport_url');
  if (!url) throw new HarnessError(`${where} has no [DEFAULT] transport_url: set TRANSPORT_URL for the shortcut`);
  const topics = iniValue(text, 'oslo_messaging_notifications', 'topics');
  return {
    url,
    target: { exchange: iniValue(text, 'DEFAULT', 'control_exchange') || NOVA_BUS_TARGET.exchange, topic: topics?.split(',')[0]?.trim() || NOVA_BUS_TARGET.topic },
  };
}

export async function openShortcut(ctx: ShortcutContext, env: Environment): Promise<MessageBusShortcut> {
  const { config } = ctx;
  let bus: { url: string; target: BusTarget };
  let from: string;
  if (config.shortcut?.url) {
    bus = { url: config.shortcut.url, target: NOVA_BUS_TARGET };
    from = 'TRANSPORT_URL';
  } else {
    const node = env.novaConf?.nodes[0];
    if (!env.novaConf || !node) {
      throw new ConfigError('TRANSPORT_URL', `the shortcut needs the cloud's transport URL: the ${config.installer.type} installer names no controller to read nova.conf on, so set TRANSPORT_URL`);
    }
    from = `${env.novaConf.path} on ${node.name} (${node.ip})`;
    let text: string;
    try {
      const session = await ctx.edges.controller(node, ctx.log);
      try {
        text = await asRoot(session, node.ssh.target.username).readFile(env.novaConf.path);
      } finally {
        session.close();
      }
    } catch (err) {
      throw new HarnessError(`reading the transport URL from ${from} failed: ${(err as Error).message}; set TRANSPORT_URL instead`, { cause: err });
    }
    bus = busOfNovaConf(text, from);
  }
  const url = parseTransportUrl(bus.url, from);
  const shown = shownTransportUrl(url);
  ctx.progress(`message-bus shortcut: connecting to ${shown} (from ${from})`);
  const shortcut = await MessageBusShortcut.connect({ url, target: bus.target, guard: (h) => env.guardService(h), logger: ctx.logs.get('inspector') });
  ctx.teardown.cleanup('closing the message bus connection', () => shortcut.close());
  ctx.results.shortcut = { transportUrl: shown, from, broker: shortcut.broker, exchange: bus.target.exchange, routingKey: `${bus.target.topic}.info` };
  return shortcut;
}

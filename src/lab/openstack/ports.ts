import { createServer } from 'node:net';
import { freePort } from '../../shared/index.js';
import { DEFAULT_PORTS, type PortName } from '../catalog/index.js';

const listenable = (port: number) => new Promise<boolean>((resolve) => {
  const s = createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
});

/**
 * Free loopback ports for every lab service (a lab beside another one, or in
 * tests): RabbitMQ's two neighbours (epmd, Erlang distribution) are free too,
 * and no two services are within two ports of each other.
 */
export async function freeLabPorts(): Promise<Record<PortName, number>> {
  const ports = {} as Record<PortName, number>;
  for (const name of Object.keys(DEFAULT_PORTS) as PortName[]) {
    for (;;) {
      const p = await freePort();
      if (p > 65530 || Object.values(ports).some((q) => Math.abs(q - p) <= 2)) continue;
      if (name === 'rabbit' && !((await listenable(p + 1)) && (await listenable(p + 2)))) continue;
      ports[name] = p;
      break;
    }
  }
  return ports;
}

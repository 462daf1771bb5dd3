import { HarnessError } from '../shared/index.js';

/** The network edge of the monitor: send an ICMP message, hear every ICMP packet. */
export interface IcmpTransport {
  send(ip: string, message: Buffer): Promise<void>;
  onPacket(listener: (packet: Buffer, source: string) => void): void;
  close(): void;
}

/** ICMP over a raw IPv4 socket (raw-socket). Needs root or CAP_NET_RAW. */
export async function openRawIcmp(): Promise<IcmpTransport> {
  const raw = (await import('raw-socket')).default;
  let socket: import('raw-socket').RawSocket;
  try {
    socket = raw.createSocket({ protocol: raw.Protocol.ICMP });
  } catch (err) {
    const msg = (err as Error).message;
    if (/not permitted|EPERM|EACCES|permission/i.test(msg)) {
      throw new HarnessError(
        `the ICMP monitor needs a raw socket, which needs root or CAP_NET_RAW (${msg}); run as root or grant it with: setcap cap_net_raw+ep "$(readlink -f "$(command -v node)")"`,
        { cause: err },
      );
    }
    throw new HarnessError(`cannot open a raw ICMP socket: ${msg}`, { cause: err });
  }
  const listeners: Array<(p: Buffer, s: string) => void> = [];
  socket.on('message', (buf, source) => {
    for (const l of listeners) l(buf, source);
  });
  socket.on('error', () => {
    /* send errors are reported per send; a socket error ends probing via close() */
  });
  return {
    send: (ip, message) =>
      new Promise((resolve, reject) => {
        socket.send(message, 0, message.length, ip, null, (error) => (error ? reject(error) : resolve()));
      }),
    onPacket: (l) => listeners.push(l),
    close: () => socket.close(),
  };
}

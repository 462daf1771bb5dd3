import { HarnessError } from '../shared/index.js';
import { loadIcmpBatch, openBatchIcmp } from './batch-transport.js';
import { DRAIN_ALL, RECEIVE_BUFFER, type IcmpTransport } from './icmp-transport.js';

export type { IcmpTransport } from './icmp-transport.js';

/**
 * The monitor's ICMP socket: the batching one (native/icmp-batch: sendmmsg and recvmmsg) when it is
 * built, raw-socket otherwise. DOCTOR_ICMP_TRANSPORT=raw-socket or =batch in `env` asks for one (a
 * comparison; batch fails when it is not built). `onFallback` hears why, when raw-socket is used unasked.
 * Needs root or CAP_NET_RAW.
 */
export async function openIcmp(env: Record<string, string | undefined>, onFallback?: (reason: string) => void): Promise<IcmpTransport> {
  const asked = env['DOCTOR_ICMP_TRANSPORT'];
  if (asked !== undefined && asked !== '' && asked !== 'batch' && asked !== 'raw-socket') {
    throw new HarnessError(`DOCTOR_ICMP_TRANSPORT=${asked} is not a transport: use batch or raw-socket, or unset it`);
  }
  if (asked === 'raw-socket') return openRawIcmp();
  const addon = loadIcmpBatch();
  if (addon instanceof Error) {
    if (asked === 'batch') {
      throw new HarnessError(`DOCTOR_ICMP_TRANSPORT=batch, but native/icmp-batch is not built (${addon.message.split('\n')[0]}); build it with: npm run build:native`, { cause: addon });
    }
    const transport = await openRawIcmp();
    onFallback?.(addon.message.split('\n')[0]!);
    return transport;
  }
  try {
    return openBatchIcmp(addon);
  } catch (err) {
    throw rawSocketError(err as Error);
  }
}

function rawSocketError(err: Error): HarnessError {
  const msg = err.message;
  if (/not permitted|EPERM|EACCES|permission/i.test(msg)) {
    return new HarnessError(
      `the ICMP monitor needs a raw socket, which needs root or CAP_NET_RAW (${msg}); run as root or grant it with: setcap cap_net_raw+ep "$(readlink -f "$(command -v node)")"`,
      { cause: err },
    );
  }
  return new HarnessError(`cannot open a raw ICMP socket: ${msg}`, { cause: err });
}

/** ICMP over a raw IPv4 socket (raw-socket). Needs root or CAP_NET_RAW. */
export async function openRawIcmp(): Promise<IcmpTransport> {
  const raw = (await import('raw-socket')).default;
  let socket: import('raw-socket').RawSocket;
  try {
    socket = raw.createSocket({ protocol: raw.Protocol.ICMP });
  } catch (err) {
    throw rawSocketError(err as Error);
  }
  // The receive buffer of RECEIVE_BUFFER's comment (SO_RCVBUFFORCE: root may exceed rmem_max).
  try {
    socket.setOption(raw.SocketLevel.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER);
  } catch {
    try {
      socket.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_RCVBUF, RECEIVE_BUFFER);
    } catch {
      /* the default buffer: enough for hundreds of hosts */
    }
  }
  const listeners: Array<(p: Buffer, s: string) => void> = [];
  const deliver = (buf: Buffer, source: string) => {
    for (const l of listeners) l(buf, source);
  };
  // raw-socket's own path costs an event-loop turn per packet each way: a send is queued until the
  // socket polls writable, a receive reads one datagram per readable event. At thousands of probes
  // a second that is most of the monitor's CPU, so when its native socket is there a send is one
  // sendto right away (queued the documented way only if the socket would block) and each readable
  // event reads every datagram waiting, up to DRAIN at a time.
  const wrap = typeof socket.wrap?.send === 'function' && typeof socket.wrap.recv === 'function' ? socket.wrap : undefined;
  const rx = Buffer.alloc(4096);
  let bytes = -1;
  let from = '';
  const received = (_buf: Buffer, n: number, source: string) => {
    bytes = n;
    from = source;
  };
  /** One datagram into rx, or false when none waits (EAGAIN; a real error surfaces on raw-socket's own read). */
  const recvOne = (w: NonNullable<typeof wrap>): boolean => {
    bytes = -1;
    // An empty socket answers EAGAIN as a thrown Error: without a stack trace it costs next to nothing.
    const traces = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      w.recv(rx, received);
    } catch {
      return false;
    } finally {
      Error.stackTraceLimit = traces;
    }
    return bytes >= 0;
  };
  const drain = (max = DRAIN) => {
    if (!wrap) return;
    for (let i = 0; i < max && recvOne(wrap); i++) deliver(rx.subarray(0, bytes), from);
  };
  /** The packet handed to listeners is only valid during the call (raw-socket's too: one receive buffer). */
  socket.on('message', (buf, source) => {
    deliver(buf, source);
    drain();
  });
  socket.on('error', () => {
    /* send errors are reported per send; a socket error ends probing via close() */
  });
  const queued = (ip: string, message: Buffer) => {
    const copy = Buffer.from(message); // the queue sends later; the caller reuses its buffer
    return new Promise<void>((resolve, reject) => {
      socket.send(copy, 0, copy.length, ip, null, (error) => (error ? reject(error) : resolve()));
    });
  };
  // raw-socket opens a new socket when one sends on a closed one: refuse instead.
  let closed = false;
  return {
    kind: 'raw-socket',
    send: (ip, message) => {
      if (closed) return Promise.reject(new Error('the ICMP socket is closed'));
      if (!wrap) return queued(ip, message);
      try {
        wrap.send(message, 0, message.length, ip, noop);
        return undefined;
      } catch (err) {
        if (/temporarily unavailable|would block/i.test((err as Error).message)) return queued(ip, message);
        return Promise.reject(err as Error);
      }
    },
    onPacket: (l) => listeners.push(l),
    drain: () => drain(DRAIN_ALL),
    close: () => {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

/** Linux's SO_RCVBUFFORCE (raw-socket exports only SO_RCVBUF). */
const SO_RCVBUFFORCE = 33;
/** Datagrams read per readable event at most, so a flood cannot hold the event loop. */
const DRAIN = 256;
const noop = () => {};

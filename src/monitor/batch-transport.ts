import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { HarnessError } from '../shared/index.js';
import { int32Ipv4, ipv4Int32 } from './icmp.js';
import { DRAIN_ALL, RECEIVE_BUFFER, type IcmpTransport } from './icmp-transport.js';

/** native/icmp-batch (built at npm install): a raw ICMP socket that sends with sendmmsg and reads with recvmmsg. */
interface IcmpBatchAddon {
  SLOT: number;
  open(onReadable: (status: number) => void, receiveBufferBytes: number): object;
  send(handle: object, records: Buffer, count: number, recordSize: number, status: Int32Array): number;
  recv(handle: object, slots: Buffer, meta: Int32Array): number;
  close(handle: object): void;
}

const ADDON = '../../native/icmp-batch/build/Release/icmp_batch.node';

/** The addon, or why it cannot load (not built: npm scripts skipped at install, no compiler, not Linux). */
export function loadIcmpBatch(): IcmpBatchAddon | Error {
  try {
    return createRequire(import.meta.url)(ADDON) as IcmpBatchAddon;
  } catch (err) {
    return err as Error;
  }
}

const ERRNO = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number) => ERRNO.get(n) ?? `errno ${n}`;

const RECORD = 4 + 16; // an IPv4 address, then the 16-byte echo request the monitor sends
const BATCH = 256; // datagrams per recvmmsg (the addon's own cap)
/** Datagrams read per readable event at most, so a flood cannot hold the event loop. */
const DRAIN = 1024;
/** Source addresses remembered as strings (so a reply costs no new string); forgotten past this many. */
const NAMES = 65_536;

/**
 * ICMP over a raw IPv4 socket that batches: every send of one event-loop turn goes out in one sendmmsg
 * when the turn's synchronous work is done (a microtask), and a readable socket is read BATCH datagrams
 * per recvmmsg. Messages of 16 bytes (the monitor's probes)
 * are batched; others go out on their own, at once. Failed sends are reported to onSendError, not thrown.
 */
export function openBatchIcmp(addon: IcmpBatchAddon): IcmpTransport {
  const listeners: Array<(p: Buffer, s: string) => void> = [];
  const v4Listeners: Array<(b: Buffer, n: number, s: number) => void> = [];
  const errorListeners: Array<(ip: string, err: Error) => void> = [];
  const slots = Buffer.alloc(addon.SLOT * BATCH);
  const views: Buffer[] = [];
  const meta = new Int32Array(2 * BATCH);
  const names = new Map<number, string>();
  const addresses = new Map<string, number>();
  let pending = Buffer.alloc(RECORD * 1024);
  let status = new Int32Array(1024);
  let count = 0;
  let flushQueued = false;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  const nameOf = (address: number): string => {
    let name = names.get(address);
    if (name === undefined) {
      if (names.size >= NAMES) names.clear();
      name = int32Ipv4(address);
      names.set(address, name);
    }
    return name;
  };
  /** Up to `max` datagrams to the listeners; how many were read. */
  const drain = (max: number): number => {
    let read = 0;
    while (read < max && !closed) {
      const n = addon.recv(handle, slots, meta);
      if (n <= 0) break; // none waits, or an error: the socket is polled again
      for (let i = 0; i < n; i++) {
        const length = meta[2 * i + 1]!;
        if (length === 0) continue; // larger than a slot: no reply to a probe of ours
        const address = meta[2 * i]!;
        const slot = (views[i] ??= slots.subarray(i * addon.SLOT, (i + 1) * addon.SLOT));
        for (const l of v4Listeners) l(slot, length, address);
        if (listeners.length) {
          const packet = slot.subarray(0, length);
          const source = nameOf(address);
          for (const l of listeners) l(packet, source);
        }
      }
      read += n;
      if (n < BATCH) break;
    }
    return read;
  };
  const failed = (ip: string, errno: number) => {
    const err = new Error(`ICMP send to ${ip} failed: ${errnoName(errno)}`);
    for (const l of errorListeners) l(ip, err);
  };
  const flush = () => {
    flushQueued = false;
    if (closed || count === 0) return;
    const done = addon.send(handle, pending, count, RECORD, status);
    for (let i = 0; i < done; i++) {
      if (status[i] !== 0) failed(nameOf(pending.readInt32BE(i * RECORD)), status[i]!);
    }
    if (done < count) {
      // The socket's send buffer is full: the rest goes out in a moment, in order.
      pending.copy(pending, 0, done * RECORD, count * RECORD);
      count -= done;
      retry ??= setTimeout(() => {
        retry = undefined;
        flush();
      }, 1);
      return;
    }
    count = 0;
  };
  const handle = addon.open(() => void drain(DRAIN), RECEIVE_BUFFER);

  const sendV4 = (address: number, message: Buffer): Promise<void> | undefined => {
    if (closed) return Promise.reject(new Error('the ICMP socket is closed'));
    if (message.length !== RECORD - 4) {
      // Not a probe: its own batch of one, at once.
      const one = Buffer.alloc(4 + message.length);
      one.writeInt32BE(address, 0);
      message.copy(one, 4);
      const st = new Int32Array(1);
      const done = addon.send(handle, one, 1, one.length, st);
      if (done === 1 && st[0] === 0) return undefined;
      return Promise.reject(new Error(`ICMP send to ${int32Ipv4(address)} failed: ${done === 1 ? errnoName(st[0]!) : 'the socket would block'}`));
    }
    if (count * RECORD === pending.length) {
      const bigger = Buffer.alloc(pending.length * 2);
      pending.copy(bigger);
      pending = bigger;
      status = new Int32Array(status.length * 2);
    }
    const at = count * RECORD;
    pending.writeInt32BE(address, at);
    pending.set(message, at + 4); // a typed-array copy: no call into C++ per probe, as Buffer#copy is
    count += 1;
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
    return undefined;
  };

  return {
    kind: 'batch',
    send: (ip, message) => {
      let address = addresses.get(ip);
      if (address === undefined) {
        address = ipv4Int32(ip);
        if (address === undefined) return Promise.reject(new HarnessError(`not an IPv4 address: ${ip}`));
        if (addresses.size >= NAMES) addresses.clear();
        addresses.set(ip, address);
      }
      return sendV4(address, message);
    },
    sendV4,
    onPacket: (l) => listeners.push(l),
    onPacketV4: (l) => v4Listeners.push(l),
    onSendError: (l) => errorListeners.push(l),
    drain: () => {
      drain(DRAIN_ALL);
    },
    close: () => {
      if (closed) return;
      closed = true;
      clearTimeout(retry);
      addon.close(handle);
    },
  };
}

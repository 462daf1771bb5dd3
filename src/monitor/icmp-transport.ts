/** The network edge of the monitor: send an ICMP message, hear every ICMP packet. */
export interface IcmpTransport {
  /** Which socket: `batch` (native/icmp-batch) or `raw-socket`; a test's fake names none. */
  readonly kind?: 'batch' | 'raw-socket';
  /**
   * `message` is the caller's to reuse once this returns: send it or copy it before returning. Returns
   * nothing when the message went out at once or joined a batch (whose failures go to onSendError), or
   * a promise when it waits (and may fail) in a queue.
   */
  send(ip: string, message: Buffer): Promise<void> | void;
  onPacket(listener: (packet: Buffer, source: string) => void): void;
  /**
   * The same with addresses as numbers (icmp.ts's ipv4Int32), for the hot path: no address string is
   * made or hashed per packet, and no view made per packet: the packet is the first `length` bytes of
   * `buffer` (valid only during the call). A transport without them is used through send and onPacket.
   */
  sendV4?(address: number, message: Buffer): Promise<void> | void;
  onPacketV4?(listener: (buffer: Buffer, length: number, source: number) => void): void;
  /** A transport that sends later (in a batch) reports a send that failed here instead of by a promise. */
  onSendError?(listener: (ip: string, err: Error) => void): void;
  /**
   * Hands every packet already waiting to the listeners, now. A loss check calls it first: a reply that
   * came in time but was not read yet (a busy event loop reads a bounded batch per turn) is no loss.
   */
  drain?(): void;
  close(): void;
}

/**
 * The receive buffer both sockets ask for. Replies that arrive while the event loop is busy (a GC pause,
 * a burst of work) wait there; the default (about 208 KiB: a few hundred replies) overflows in such a
 * pause at thousands of hosts, and an overflowed reply is a lost probe. Root may exceed rmem_max.
 */
export const RECEIVE_BUFFER = 8 * 1024 * 1024;
/** Datagrams a drain() reads at most: all that waits (8 MiB of buffer holds fewer than 100,000 replies). */
export const DRAIN_ALL = 100_000;

/**
 * ICMP echo encode/decode (RFC 792) and the Internet checksum (RFC 1071).
 * Pure: no sockets here.
 */

export const ECHO_REQUEST = 8;
export const ECHO_REPLY = 0;

/** One's-complement sum of 16-bit words, complemented (of `buf[start, end)`, the whole buffer by default). */
export function internetChecksum(buf: Buffer, start = 0, end = buf.length): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * An echo request with an 8-byte payload (the send time, as ping's timestamp) written into `into`
 * (16 bytes, reused by the caller: the monitor's send does not keep it).
 */
export function writeEchoRequest(into: Buffer, identifier: number, sequence: number, sentAt: number): Buffer {
  into[0] = ECHO_REQUEST;
  into[1] = 0;
  into.writeUInt16BE(0, 2);
  into.writeUInt16BE(identifier & 0xffff, 4);
  into.writeUInt16BE(sequence & 0xffff, 6);
  into.writeDoubleBE(sentAt, 8);
  into.writeUInt16BE(internetChecksum(into, 0, 16), 2);
  return into;
}

export function encodeEchoRequest(identifier: number, sequence: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.alloc(8 + payload.length);
  buf.writeUInt8(ECHO_REQUEST, 0);
  buf.writeUInt8(0, 1);
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(identifier & 0xffff, 4);
  buf.writeUInt16BE(sequence & 0xffff, 6);
  payload.copy(buf, 8);
  buf.writeUInt16BE(internetChecksum(buf), 2);
  return buf;
}

export interface IcmpMessage {
  type: number;
  code: number;
  identifier: number;
  sequence: number;
  payload: Buffer;
}

/**
 * Decodes what a raw IPv4 ICMP socket delivers (IP header included). Returns
 * undefined for anything that is not a well-formed ICMP message: truncated,
 * not ICMP, or with a bad checksum.
 */
export function decodeIcmp(packet: Buffer, withIpHeader = true): IcmpMessage | undefined {
  let icmp = packet;
  if (withIpHeader) {
    if (packet.length < 20 || packet[0]! >> 4 !== 4) return undefined;
    const ihl = (packet[0]! & 0x0f) * 4;
    if (ihl < 20 || packet.length < ihl + 8 || packet[9] !== 1) return undefined;
    icmp = packet.subarray(ihl);
  }
  if (icmp.length < 8 || internetChecksum(icmp) !== 0) return undefined;
  return {
    type: icmp[0]!,
    code: icmp[1]!,
    identifier: icmp.readUInt16BE(4),
    sequence: icmp.readUInt16BE(6),
    payload: icmp.subarray(8),
  };
}

/**
 * The sequence number of an echo reply to `identifier` in what a raw IPv4 socket delivers (the first
 * `length` bytes of `packet`), or -1 for anything else (decodeIcmp + isEchoReplyFor without allocating:
 * the monitor's hot path).
 */
export function echoReplySequence(packet: Buffer, identifier: number, length = packet.length): number {
  if (length < 28 || length > packet.length || packet[0]! >> 4 !== 4 || packet[9] !== 1) return -1;
  const ihl = (packet[0]! & 0x0f) * 4;
  if (ihl < 20 || length < ihl + 8) return -1;
  if (packet[ihl] !== ECHO_REPLY || packet[ihl + 1] !== 0 || ((packet[ihl + 4]! << 8) | packet[ihl + 5]!) !== identifier) return -1;
  if (internetChecksum(packet, ihl, length) !== 0) return -1;
  return (packet[ihl + 6]! << 8) | packet[ihl + 7]!;
}

/** An echo reply to us: type 0, our identifier. Everything else on the raw socket is someone else's. */
export function isEchoReplyFor(msg: IcmpMessage | undefined, identifier: number): msg is IcmpMessage {
  return msg !== undefined && msg.type === ECHO_REPLY && msg.code === 0 && msg.identifier === identifier;
}

/**
 * A dotted IPv4 address as a signed 32-bit number (an int32 is a small integer to V8 on 64-bit, so a map
 * keyed by it hashes fast and a typed array of them holds no heap numbers), or undefined for anything else.
 */
export function ipv4Int32(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    value = (value << 8) | Number(p);
  }
  return value | 0;
}

/** The dotted form of ipv4Int32's number. */
export function int32Ipv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

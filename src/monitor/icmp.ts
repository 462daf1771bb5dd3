/**
 * ICMP echo encode/decode (RFC 792) and the Internet checksum (RFC 1071).
 * Pure: no sockets here.
 */

export const ECHO_REQUEST = 8;
export const ECHO_REPLY = 0;

/** One's-complement sum of 16-bit words, complemented. */
export function internetChecksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
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

/** An echo reply to us: type 0, our identifier. Everything else on the raw socket is someone else's. */
export function isEchoReplyFor(msg: IcmpMessage | undefined, identifier: number): msg is IcmpMessage {
  return msg !== undefined && msg.type === ECHO_REPLY && msg.code === 0 && msg.identifier === identifier;
}

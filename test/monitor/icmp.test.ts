import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeIcmp, echoReplySequence, encodeEchoRequest, int32Ipv4, internetChecksum, ipv4Int32, isEchoReplyFor, writeEchoRequest, HostTracker } from '../../src/monitor/index.js';

/** An IPv4 header (no options) in front of an ICMP message, as a raw socket delivers it. */
export function ipv4(icmp: Buffer, protocol = 1): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + icmp.length, 2);
  h[8] = 64;
  h[9] = protocol;
  return Buffer.concat([h, icmp]);
}

export function echoReply(identifier: number, sequence: number, payload = Buffer.alloc(0)): Buffer {
  const req = encodeEchoRequest(identifier, sequence, payload);
  req[0] = 0;
  req.writeUInt16BE(0, 2);
  req.writeUInt16BE(internetChecksum(req), 2);
  return req;
}

describe('ICMP echo codec', () => {
  it("encodes Doctor's sample probe (id 0, seq 0, no payload) byte for byte", () => {
    // doctor_tests/monitor/sample.py sends b'\x08\x00\xf7\xff\x00\x00\x00\x00'
    expect(encodeEchoRequest(0, 0).toString('hex')).toBe('0800f7ff00000000');
  });

  it("matches raw-socket's documented echo request (checksum 0x4352)", () => {
    const payload = Buffer.from('abcdefghijklmnopqrstuvwabcdefghi');
    const packet = encodeEchoRequest(0x0001, 0x0a09, payload);
    expect(packet.subarray(0, 8).toString('hex')).toBe('080043520001' + '0a09');
    expect(internetChecksum(packet)).toBe(0); // a packet with a valid checksum sums to zero
  });

  it('computes the checksum of odd-length data (RFC 1071 padding)', () => {
    expect(internetChecksum(Buffer.from([0x00, 0x01, 0xf2]))).toBe(~(0x0001 + 0xf200) & 0xffff);
  });

  it('decodes an echo reply behind an IPv4 header and keeps id, sequence and payload', () => {
    const msg = decodeIcmp(ipv4(echoReply(0xbeef, 513, Buffer.from('hi'))));
    expect(msg).toMatchObject({ type: 0, code: 0, identifier: 0xbeef, sequence: 513 });
    expect(msg?.payload.toString()).toBe('hi');
    expect(isEchoReplyFor(msg, 0xbeef)).toBe(true);
  });

  it('ignores what is not an echo reply to us', () => {
    expect(isEchoReplyFor(decodeIcmp(ipv4(echoReply(0x1111, 1))), 0xbeef)).toBe(false); // another pinger
    expect(isEchoReplyFor(decodeIcmp(ipv4(encodeEchoRequest(0xbeef, 1))), 0xbeef)).toBe(false); // a request
    const corrupt = ipv4(echoReply(0xbeef, 1));
    corrupt[26] = corrupt[26]! ^ 0xff; // flip a sequence byte: checksum no longer holds
    expect(decodeIcmp(corrupt)).toBeUndefined();
    expect(decodeIcmp(ipv4(echoReply(0xbeef, 1)).subarray(0, 24))).toBeUndefined(); // truncated
    expect(decodeIcmp(ipv4(echoReply(0xbeef, 1), 17))).toBeUndefined(); // UDP, not ICMP
    const unreachable = Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]);
    unreachable.writeUInt16BE(internetChecksum(unreachable), 2);
    expect(isEchoReplyFor(decodeIcmp(ipv4(unreachable)), 0)).toBe(false);
  });
});

describe("the monitor's allocation-free codec agrees with the plain one", () => {
  it('writeEchoRequest into a reused buffer is encodeEchoRequest with the send time as payload', () => {
    const scratch = Buffer.alloc(16);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.double({ noNaN: true }), (id, seq, at) => {
        const payload = Buffer.alloc(8);
        payload.writeDoubleBE(at);
        expect(writeEchoRequest(scratch, id, seq, at).equals(encodeEchoRequest(id, seq, payload))).toBe(true);
      }),
    );
  });

  it('echoReplySequence finds exactly the replies decodeIcmp + isEchoReplyFor accept, in any bytes', () => {
    const reply = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 24 })).map(([id, seq, p]) => ipv4(echoReply(id, seq, Buffer.from(p))));
    // Valid replies, replies with bytes flipped or cut short, and noise.
    const packet = fc.oneof(
      reply,
      fc.tuple(reply, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, i, x]) => {
        const c = Buffer.from(b);
        c[i % c.length] = c[i % c.length]! ^ x;
        return c;
      }),
      fc.tuple(reply, fc.nat()).map(([b, n]) => b.subarray(0, n % (b.length + 1))),
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(packet, fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.uint8Array({ maxLength: 32 }), (pkt, other, useOwn, tail) => {
        const id = useOwn && pkt.length >= 26 ? pkt.readUInt16BE(24) : other;
        const msg = decodeIcmp(pkt);
        const want = isEchoReplyFor(msg, id) ? msg.sequence : -1;
        expect(echoReplySequence(pkt, id)).toBe(want);
        // The same packet at the start of a larger receive slot, its length given: what follows it is not read.
        expect(echoReplySequence(Buffer.concat([pkt, tail]), id, pkt.length)).toBe(want);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('IPv4 addresses as numbers (the batching transport\'s hot path)', () => {
  it('round-trips every address, as a signed 32-bit number', () => {
    fc.assert(fc.property(fc.ipV4(), (ip) => {
      const n = ipv4Int32(ip)!;
      expect(n | 0).toBe(n);
      expect(int32Ipv4(n)).toBe(ip);
    }));
    expect(ipv4Int32('198.18.0.1')).toBe((0xc6120001 | 0));
  });

  it('is undefined for what is not a dotted IPv4 address', () => {
    for (const bad of ['compute-1', '198.18.0', '198.18.0.256', '198.18.0.1.2', '::1', '198.18.0.-1', '198.18. 0.1', '']) expect(ipv4Int32(bad), bad).toBeUndefined();
  });
});

describe('the k-loss state machine', () => {
  it('k=1 (Doctor): the first loss after a reply is down', () => {
    const t = new HostTracker(1);
    expect(t.reply()).toEqual({ to: 'up', from: 'unknown' });
    expect(t.loss()).toEqual({ to: 'down', from: 'up', losses: 1 });
    expect(t.loss()).toBeUndefined(); // reported once
    expect(t.reply()).toEqual({ to: 'up', from: 'down' });
  });

  it('k=3: two losses are suspect, a reply clears them, the third in a row is down', () => {
    const t = new HostTracker(3);
    t.reply();
    expect(t.loss()).toBeUndefined();
    expect(t.state).toBe('suspect');
    expect(t.loss()).toBeUndefined();
    expect(t.reply()).toBeUndefined();
    expect(t.state).toBe('up');
    t.loss();
    t.loss();
    expect(t.loss()).toEqual({ to: 'down', from: 'suspect', losses: 3 });
  });

  it('never declares down a host that never answered', () => {
    const t = new HostTracker(1);
    for (let i = 0; i < 5; i++) expect(t.loss()).toBeUndefined();
    expect(t.state).toBe('unknown');
  });

  it('rejects a k below 1', () => {
    expect(() => new HostTracker(0)).toThrow(RangeError);
  });
});

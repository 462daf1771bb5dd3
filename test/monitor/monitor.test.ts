/**
 * The monitor's timing logic on a fake network edge and fake timers: every
 * instant here is simulated, so the assertions on them are exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeIcmp, Monitor, type HostDownEvent, type HostUpEvent, type IcmpTransport } from '../../src/monitor/index.js';
import { echoReply, ipv4 } from './icmp.test.js';

class FakeNet implements IcmpTransport {
  sent: Array<{ ip: string; seq: number; at: number }> = [];
  private listener: ((p: Buffer, s: string) => void) | undefined;
  /** ip → reply delay in ms, or undefined for "host down". */
  rtt = new Map<string, number | undefined>();
  dropSeqs = new Set<number>();
  closed = false;

  async send(ip: string, message: Buffer): Promise<void> {
    const msg = decodeIcmp(message, false)!;
    this.sent.push({ ip, seq: msg.sequence, at: Date.now() });
    const rtt = this.rtt.get(ip);
    if (rtt === undefined || this.dropSeqs.has(msg.sequence)) return;
    setTimeout(() => this.listener?.(ipv4(echoReply(msg.identifier, msg.sequence, Buffer.from(msg.payload))), ip), rtt);
  }
  onPacket(l: (p: Buffer, s: string) => void): void {
    this.listener = l;
  }
  inject(packet: Buffer, source: string): void {
    this.listener?.(packet, source);
  }
  close(): void {
    this.closed = true;
  }
}

describe('Monitor', () => {
  let net: FakeNet;
  let downs: HostDownEvent[];
  let ups: HostUpEvent[];
  const make = (opts: { intervalMs?: number; timeoutMs?: number; k?: number; hosts?: Array<{ name: string; ip: string }> } = {}) => {
    const m = new Monitor({ hosts: opts.hosts ?? [{ name: 'compute-1', ip: '198.18.0.2' }], transport: net, now: () => Date.now(), identifier: 0x4242, ...opts });
    m.on('down', (e: HostDownEvent) => downs.push(e));
    m.on('up', (e: HostUpEvent) => ups.push(e));
    return m;
  };
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    net = new FakeNet();
    downs = [];
    ups = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends nothing when its guard refuses a host (lab mode: only addresses routed through the lab)', async () => {
    net.rtt.set('198.18.0.2', 1);
    const refused: string[] = [];
    const m = new Monitor({
      hosts: [{ name: 'compute-1', ip: '198.18.0.2' }, { name: 'elsewhere', ip: '192.0.2.7' }], transport: net, identifier: 0x4242,
      guard: async (ips) => {
        for (const ip of ips) {
          if (!ip.startsWith('198.18.')) {
            refused.push(ip);
            throw new Error(`refusing ${ip}: not routed through a lab link`);
          }
        }
      },
    });
    await expect(m.start()).rejects.toThrow(/refusing 192\.0\.2\.7/);
    await vi.advanceTimersByTimeAsync(500);
    expect(refused).toEqual(['192.0.2.7']);
    expect(net.sent).toEqual([]);
  });

  it('pipelines probes: a slow reply does not delay the next probe', async () => {
    net.rtt.set('198.18.0.2', 250);
    const m = make({ intervalMs: 100, timeoutMs: 300, k: 1 });
    await m.start();
    await vi.advanceTimersByTimeAsync(999);
    m.stop();
    expect(net.sent.map((s) => s.at - 1_000_000)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(downs).toEqual([]);
    expect(m.states()[0]).toMatchObject({ state: 'up', replies: 8 });
  });

  it('spreads n hosts evenly over one interval and keeps each on its own cadence (one scheduler, no drift)', async () => {
    const hosts = [0, 1, 2, 3].map((i) => ({ name: `h${i}`, ip: `198.18.1.${i + 1}` }));
    for (const h of hosts) net.rtt.set(h.ip, 1);
    const m = make({ intervalMs: 100, timeoutMs: 100, k: 1, hosts });
    await m.start();
    await vi.advanceTimersByTimeAsync(2_000 - 1);
    m.stop();
    // Host i is due at i·25 + m·100, from the start: twenty probes each, none late, none early.
    for (const [i, h] of hosts.entries()) {
      expect(net.sent.filter((x) => x.ip === h.ip).map((x) => x.at - 1_000_000)).toEqual(Array.from({ length: 20 }, (_, r) => i * 25 + r * 100));
    }
    expect(m.schedule()).toMatchObject({ probes: 80, lateMaxMs: 0, skipped: 0 });
    expect(downs).toEqual([]);
  });

  it('after a stalled event loop, each host resumes with one probe per interval, not every one it missed', async () => {
    const hosts = [0, 1].map((i) => ({ name: `h${i}`, ip: `198.18.1.${i + 1}` }));
    for (const h of hosts) net.rtt.set(h.ip, 1);
    const m = make({ intervalMs: 100, timeoutMs: 300, k: 50, hosts });
    await m.start();
    await vi.advanceTimersByTimeAsync(250);
    // The clock jumps a second while no timer runs: the loop was held.
    const stalledUntil = Date.now() + 1_000;
    vi.setSystemTime(stalledUntil);
    await vi.advanceTimersByTimeAsync(150);
    m.stop();
    const after = net.sent.filter((x) => x.at >= stalledUntil);
    // The first wake after the stall sends at once; within the next interval each host gets exactly one probe.
    expect(after[0]!.at - stalledUntil).toBeLessThanOrEqual(50);
    const firstInterval = after.filter((x) => x.at < after[0]!.at + 100);
    expect(firstInterval.map((x) => x.ip).sort()).toEqual(hosts.map((h) => h.ip));
    // Ten missed rounds of two hosts were skipped, not sent.
    expect(m.schedule().skipped).toBe(20);
  });

  it('k=1 reports down one timeout after the first unanswered probe, once', async () => {
    net.rtt.set('198.18.0.2', 1);
    const m = make({ intervalMs: 100, timeoutMs: 100, k: 1 });
    await m.start();
    await vi.advanceTimersByTimeAsync(450);
    net.rtt.set('198.18.0.2', undefined); // link down at t=450
    await vi.advanceTimersByTimeAsync(1_000);
    m.stop();
    expect(downs).toHaveLength(1);
    // First probe after the failure is sent at t=500 and expires at t=600; the loss check runs
    // on the next setImmediate, which the fake clock places 1 ms later.
    expect(downs[0]!.detectedAt - 1_000_000).toBeGreaterThanOrEqual(600);
    expect(downs[0]!.detectedAt - 1_000_000).toBeLessThanOrEqual(601);
    expect(downs[0]!.lastReplyAt! - 1_000_000).toBe(401);
    expect(downs[0]).toMatchObject({ host: 'compute-1', ip: '198.18.0.2', losses: 1 });
  });

  it('reads the replies waiting in the socket before a loss check: a reply that came in time is no loss, however busy the loop was', async () => {
    // A socket whose replies arrived but were not read yet: only drain() hands them over.
    const waiting: Array<() => void> = [];
    net.rtt.set('198.18.0.2', 1);
    const send = net.send.bind(net);
    net.send = async (ip, message) => {
      const msg = decodeIcmp(message, false)!;
      const before = net.sent.length;
      await send(ip, message);
      if (net.sent.length > before && net.rtt.get(ip) === 999) waiting.push(() => net.inject(ipv4(echoReply(msg.identifier, msg.sequence, Buffer.from(msg.payload))), ip));
    };
    const withDrain = Object.assign(net, { drain: () => waiting.splice(0).forEach((f) => f()) });
    const m = new Monitor({ hosts: [{ name: 'compute-1', ip: '198.18.0.2' }], transport: withDrain, now: () => Date.now(), identifier: 0x4242, intervalMs: 100, timeoutMs: 100, k: 1 });
    m.on('down', (e: HostDownEvent) => downs.push(e));
    await m.start();
    await vi.advanceTimersByTimeAsync(450);
    net.rtt.set('198.18.0.2', 999); // replies come (at once, in the socket) but nothing reads them
    await vi.advanceTimersByTimeAsync(1_000);
    expect(downs).toEqual([]);
    expect(m.states()[0]).toMatchObject({ state: 'up', losses: 0 });
    // Without drain() the same socket makes every probe a loss: the check is what reads them.
    (withDrain as { drain?: () => void }).drain = undefined;
    await vi.advanceTimersByTimeAsync(300);
    m.stop();
    expect(downs).toHaveLength(1);
  });

  it('k=4 with a 5 ms interval rides out isolated losses and detects a real failure after four', async () => {
    net.rtt.set('198.18.0.2', 1);
    const m = make({ intervalMs: 5, timeoutMs: 15, k: 4 });
    await m.start();
    await vi.advanceTimersByTimeAsync(50);
    const first = net.sent[0]!.seq;
    for (const i of [12, 13, 14, 20, 30]) net.dropSeqs.add((first + i) & 0xffff); // three in a row, then singles
    await vi.advanceTimersByTimeAsync(200);
    expect(downs).toEqual([]);
    net.rtt.set('198.18.0.2', undefined);
    const failedAt = Date.now();
    await vi.advanceTimersByTimeAsync(200);
    m.stop();
    expect(downs).toHaveLength(1);
    // Probes at +5, +10, +15, +20 are lost; the fourth expires at +35 (+1 for the fake setImmediate).
    expect(downs[0]!.detectedAt - failedAt).toBeGreaterThanOrEqual(35);
    expect(downs[0]!.detectedAt - failedAt).toBeLessThanOrEqual(36);
  });

  it('a reply to a later probe settles earlier unanswered ones', async () => {
    net.rtt.set('198.18.0.2', 1);
    const m = make({ intervalMs: 5, timeoutMs: 50, k: 2 });
    await m.start();
    await vi.advanceTimersByTimeAsync(20);
    const seq = (net.sent.at(-1)!.seq + 1) & 0xffff;
    net.dropSeqs.add(seq);
    net.dropSeqs.add((seq + 1) & 0xffff);
    await vi.advanceTimersByTimeAsync(200);
    m.stop();
    expect(downs).toEqual([]);
    expect(m.states()[0]).toMatchObject({ losses: 0, unanswered: 2 });
  });

  it('keeps every probe apart when thousands are in flight at once (its probe ring grows): slow hosts stay up, exactly the failed ones go down and come back', async () => {
    // 600 hosts answering after 250 ms, probed every 50 ms: about 3,000 probes wait at any instant. The
    // replies come in batches from one timer (one fake timer per reply would make this test slow).
    const hosts = Array.from({ length: 600 }, (_, i) => ({ name: `h${i}`, ip: `198.18.${4 + (i >> 8)}.${i & 255}` }));
    const silent = new Set<string>();
    const inFlight: Array<{ ip: string; reply: Buffer; at: number }> = [];
    let listener: ((p: Buffer, s: string) => void) | undefined;
    const slow: IcmpTransport = {
      send: (ip, message) => {
        const msg = decodeIcmp(message, false)!;
        if (!silent.has(ip)) inFlight.push({ ip, reply: ipv4(echoReply(msg.identifier, msg.sequence, Buffer.from(msg.payload))), at: Date.now() + 250 });
      },
      onPacket: (l) => void (listener = l),
      close: () => undefined,
    };
    const replies = setInterval(() => {
      while (inFlight.length && inFlight[0]!.at <= Date.now()) {
        const r = inFlight.shift()!;
        listener?.(r.reply, r.ip);
      }
    }, 10);
    const m = new Monitor({ hosts, transport: slow, now: () => Date.now(), identifier: 0x4242, intervalMs: 50, timeoutMs: 400, k: 1 });
    m.on('down', (e: HostDownEvent) => downs.push(e));
    m.on('up', (e: HostUpEvent) => ups.push(e));
    await m.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(downs).toEqual([]);
    expect(ups).toHaveLength(600);
    const failed = hosts.filter((_, i) => i % 3 === 0);
    for (const h of failed) silent.add(h.ip);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(downs.map((d) => d.host).sort()).toEqual(failed.map((h) => h.name).sort());
    silent.clear();
    await vi.advanceTimersByTimeAsync(1_000);
    m.stop();
    clearInterval(replies);
    expect(ups.slice(600).map((u) => u.host).sort()).toEqual(failed.map((h) => h.name).sort());
    expect(downs).toHaveLength(failed.length);
    const states = m.states();
    expect(states.filter((h) => h.state !== 'up')).toEqual([]);
    // A host that never failed had each probe answered by its own reply: none lost, none passed over.
    const failedNames = new Set(failed.map((h) => h.name));
    expect(states.filter((h) => !failedNames.has(h.host) && h.unanswered > 0)).toEqual([]);
    // Every probe sent is answered, lost or still waiting (at most 9 per host in 400 ms at 20 Hz).
    for (const h of states) expect(h.sent - h.replies - h.unanswered).toBeGreaterThanOrEqual(0);
    for (const h of states) expect(h.sent - h.replies - h.unanswered).toBeLessThanOrEqual(9);
  });

  it('ignores foreign ICMP: other identifiers, other sources, requests, garbage', async () => {
    const m = make({ intervalMs: 100, timeoutMs: 100, k: 1 });
    await m.start();
    await vi.advanceTimersByTimeAsync(1);
    const seq = net.sent[0]!.seq;
    net.inject(ipv4(echoReply(0x1111, seq)), '198.18.0.2'); // someone else's ping
    net.inject(ipv4(echoReply(0x4242, seq)), '198.18.0.99'); // right id, wrong host
    net.inject(Buffer.from('not a packet'), '198.18.0.2');
    await vi.advanceTimersByTimeAsync(500);
    expect(m.states()[0]).toMatchObject({ state: 'unknown', replies: 0 });
    net.inject(ipv4(echoReply(0x4242, net.sent.at(-1)!.seq)), '198.18.0.2');
    m.stop();
    expect(m.states()[0]).toMatchObject({ state: 'up', replies: 1 });
  });

  it('does not report a host that never answered, and says which ones are silent', async () => {
    net.rtt.set('198.18.0.2', 1);
    const m = make({ hosts: [{ name: 'compute-1', ip: '198.18.0.2' }, { name: 'compute-2', ip: '198.18.0.6' }] });
    await m.start();
    const ready = m.ready(1_000);
    const check = expect(ready).rejects.toThrow(/no ICMP echo reply within 1000 ms from compute-2 \(198\.18\.0\.6\)/);
    await vi.advanceTimersByTimeAsync(1_100);
    await check;
    m.stop();
    expect(downs).toEqual([]);
  });

  it('reports up again when the host comes back, and closes its socket on stop', async () => {
    net.rtt.set('198.18.0.2', 1);
    const m = make();
    await m.start();
    await vi.advanceTimersByTimeAsync(300);
    net.rtt.set('198.18.0.2', undefined);
    await vi.advanceTimersByTimeAsync(300);
    net.rtt.set('198.18.0.2', 1);
    await vi.advanceTimersByTimeAsync(300);
    m.stop();
    expect(ups.map((u) => u.from)).toEqual(['unknown', 'down']);
    expect(downs).toHaveLength(1);
    expect(net.closed).toBe(true);
  });

  it('takes a new set of hosts while running: kept ones keep their state, taken-over ones start as told, dropped ones go silent', async () => {
    const [a, b, c, d] = [1, 2, 3, 4].map((i) => ({ name: `h${i}`, ip: `198.18.1.${i}` }));
    for (const h of [a!, b!]) net.rtt.set(h.ip, 1);
    const m = make({ intervalMs: 100, timeoutMs: 100, k: 1, hosts: [a!, b!] });
    await m.start();
    await vi.advanceTimersByTimeAsync(250);
    const sentToA = m.states()[0]!.sent;
    // c was up with its previous owner and has just failed; d never answered anyone.
    await m.setHosts([a!, c!, d!], (h) => (h.name === 'h3' ? 'up' : 'unknown'));
    net.sent.length = 0;
    await vi.advanceTimersByTimeAsync(400);
    m.stop();
    const states = new Map(m.states().map((s) => [s.host, s]));
    expect([...states.keys()]).toEqual(['h1', 'h3', 'h4']);
    expect(states.get('h1')).toMatchObject({ state: 'up' });
    expect(states.get('h1')!.sent).toBeGreaterThan(sentToA);
    // The taken-over host is declared down; the one never heard from is not.
    expect(downs.map((e) => e.host)).toEqual(['h3']);
    expect(states.get('h4')!.state).toBe('unknown');
    // Nothing more goes to the dropped host; the three left share the interval.
    expect(net.sent.some((x) => x.ip === b!.ip)).toBe(false);
    expect(new Set(net.sent.map((x) => x.ip))).toEqual(new Set([a!.ip, c!.ip, d!.ip]));
  });

  it('refuses two hosts on one address in a new set, and keeps probing the old set', async () => {
    net.rtt.set('198.18.0.2', 1);
    const m = make();
    await m.start();
    await expect(m.setHosts([{ name: 'x', ip: '198.18.0.9' }, { name: 'y', ip: '198.18.0.9' }])).rejects.toThrow(/two monitored hosts share the address 198\.18\.0\.9/);
    net.sent.length = 0;
    await vi.advanceTimersByTimeAsync(250);
    m.stop();
    // Still one host on its own cadence: probes at 100 and 200 ms.
    expect(net.sent.map((x) => x.ip)).toEqual(['198.18.0.2', '198.18.0.2']);
  });
});

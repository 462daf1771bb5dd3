/**
 * Both ICMP transports for real, over loopback (root: a raw socket). The batching one (native/icmp-batch)
 * is the monitor's default; raw-socket is its fallback when the addon is not built.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { echoReplySequence, ipv4Int32, openIcmp, writeEchoRequest, type IcmpTransport } from '../../src/monitor/index.js';
import { loadIcmpBatch } from '../../src/monitor/batch-transport.js';
import { rawSocketWarning } from '../../src/cli/monitor.js';
import { eventually } from '../helpers/lab.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function listen(transport: IcmpTransport, identifier: number) {
  const replies: Array<{ seq: number; source: string }> = [];
  transport.onPacket((packet, source) => {
    const seq = echoReplySequence(packet, identifier);
    if (seq >= 0) replies.push({ seq, source });
  });
  return replies;
}

describe.each(['batch', 'raw-socket'] as const)('the %s ICMP transport', (kind) => {
  const open = () => openIcmp({ DOCTOR_ICMP_TRANSPORT: kind });

  it('sends every probe of one turn and hears every reply with its source', async () => {
    const transport = await open();
    try {
      const identifier = 0x4d00 + (kind === 'batch' ? 1 : 2);
      const replies = listen(transport, identifier);
      const scratch = Buffer.alloc(16);
      // More than the batch transport's first buffer (1,024) and its per-call batch (256).
      const count = 1_500;
      for (let seq = 0; seq < count; seq++) {
        const queued = transport.send('127.0.0.1', writeEchoRequest(scratch, identifier, seq, Date.now()));
        if (queued) await queued;
      }
      await eventually(() => (replies.length >= count ? true : undefined), 10_000, `${count} echo replies`);
      expect(new Set(replies.map((r) => r.seq)).size).toBe(count);
      expect(new Set(replies.map((r) => r.source))).toEqual(new Set(['127.0.0.1']));
    } finally {
      transport.close();
    }
  });

  it('reports a send the kernel refuses, and still sends the probes around it', async () => {
    const transport = await open();
    try {
      const identifier = 0x4e00 + (kind === 'batch' ? 1 : 2);
      const replies = listen(transport, identifier);
      const errors: string[] = [];
      transport.onSendError?.((ip, err) => errors.push(`${ip}: ${err.message}`));
      const scratch = Buffer.alloc(16);
      // A broadcast without SO_BROADCAST: the kernel refuses it (EACCES) before anything leaves.
      const outcomes = ['127.0.0.1', '255.255.255.255', '127.0.0.1'].map((ip, seq) => {
        const queued = transport.send(ip, writeEchoRequest(scratch, identifier, seq, Date.now()));
        return queued ? queued.then(() => 'sent', (err: Error) => `${ip}: ${err.message}`) : undefined;
      });
      const rejected = (await Promise.all(outcomes)).filter((o) => o && o !== 'sent');
      await eventually(() => (replies.length >= 2 ? true : undefined), 5_000, 'the two echo replies');
      expect(replies.map((r) => r.seq).sort()).toEqual([0, 2]);
      const refusals = [...errors, ...rejected];
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatch(/^255\.255\.255\.255: /);
    } finally {
      transport.close();
    }
  });

  it('refuses a send once closed, and closing twice is harmless', async () => {
    const transport = await open();
    transport.close();
    transport.close();
    // (raw-socket itself would open a new socket for a send on a closed one.)
    await expect(transport.send('127.0.0.1', writeEchoRequest(Buffer.alloc(16), 1, 1, Date.now()))).rejects.toThrow(/closed/);
  });

  it('lets the process exit once closed (no handle left open)', async () => {
    const script = `import { openIcmp } from './src/monitor/index.js';
      const t = await openIcmp({ DOCTOR_ICMP_TRANSPORT: '${kind}' });
      t.onPacket(() => {});
      t.close();`;
    const { stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 20_000 });
    expect(stderr).toBe('');
  });
});

describe('the batching transport by number', () => {
  it('sends to and hears from addresses given as numbers, no strings involved', async () => {
    const transport = await openIcmp({ DOCTOR_ICMP_TRANSPORT: 'batch' });
    try {
      const identifier = 0x4f01;
      const loopback = ipv4Int32('127.0.0.1')!;
      const heard: Array<{ seq: number; source: number }> = [];
      transport.onPacketV4!((buffer, length, source) => {
        const seq = echoReplySequence(buffer, identifier, length);
        if (seq >= 0) heard.push({ seq, source });
      });
      const scratch = Buffer.alloc(16);
      for (let seq = 0; seq < 300; seq++) transport.sendV4!(loopback, writeEchoRequest(scratch, identifier, seq, Date.now()));
      await eventually(() => (heard.length >= 300 ? true : undefined), 10_000, '300 echo replies');
      expect(new Set(heard.map((h) => h.seq)).size).toBe(300);
      expect(new Set(heard.map((h) => h.source))).toEqual(new Set([loopback]));
    } finally {
      transport.close();
    }
  });
});

describe('the batching transport closed', () => {
  it('leaves the descriptor number it had to the socket that takes it next, even once collected', async () => {
    // Closed, then collected by GC: the socket that took its descriptor's number must still be polled
    // (closing the socket before libuv's poll handle let the handle's close unregister that number).
    const script = `import net from 'node:net';
      import { openIcmp } from './src/monitor/index.js';
      let transport = await openIcmp({ DOCTOR_ICMP_TRANSPORT: 'batch' });
      transport.close();
      transport = undefined;
      await new Promise((r) => setImmediate(r));
      const server = net.createServer((c) => c.end('pong'));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
      const answer = await new Promise((resolve, reject) => {
        const c = net.connect(server.address().port, '127.0.0.1');
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', reject);
      });
      server.close();
      process.stdout.write(answer);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 20_000 });
    expect(stdout).toBe('pong');
  });
});

describe('choosing the ICMP transport', () => {
  it('is the batching one when it is built', () => {
    expect(loadIcmpBatch()).not.toBeInstanceOf(Error);
  });

  it('doctor monitor warns, with the reason and the fix, when it fell back to raw-socket unasked', () => {
    const warning = rawSocketWarning("Cannot find module '../../native/icmp-batch/build/Release/icmp_batch.node'");
    expect(warning).toMatch(/^probing through raw-socket, .*not usable \(Cannot find module '.*icmp_batch\.node'\); build it with npm run build:native, or set DOCTOR_ICMP_TRANSPORT=raw-socket/);
  });

  it('names DOCTOR_ICMP_TRANSPORT when it holds no transport', async () => {
    await expect(openIcmp({ DOCTOR_ICMP_TRANSPORT: 'dpdk' })).rejects.toThrow(/DOCTOR_ICMP_TRANSPORT=dpdk is not a transport: use batch or raw-socket/);
  });

  it('refuses a batch send to what is not an IPv4 address, naming it', async () => {
    const transport = await openIcmp({ DOCTOR_ICMP_TRANSPORT: 'batch' });
    try {
      await expect(transport.send('compute-1', writeEchoRequest(Buffer.alloc(16), 1, 1, Date.now()))).rejects.toThrow(/not an IPv4 address: compute-1/);
    } finally {
      transport.close();
    }
  });
});

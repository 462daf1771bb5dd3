/**
 * What the harness's own machinery costs, before any real cloud is involved:
 * the typed client against the in-process lab cloud (zero modelled latency),
 * from the reset-state calls to every Aodh webhook at a local consumer, for
 * 1, 20 and 50 VMs on one host. Prints JSON.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { doctorAlarmBody, OpenStackClient } from '../src/openstack/index.js';
import { startCloud } from '../src/lab/index.js';
import { preciseNow } from '../src/shared/index.js';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
const round = (n: number) => Math.round(n * 100) / 100;

async function runOnce(vms: number, concurrency: number) {
  const lab = await startCloud({ buildDelayMs: 0, hosts: [{ name: 'compute-1', ip: '198.18.0.2' }] });
  const arrivals = new Map<string, number>();
  const consumer = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const now = preciseNow();
      const alarm = JSON.parse(body) as { alarm_id: string };
      if (!arrivals.has(alarm.alarm_id)) arrivals.set(alarm.alarm_id, now);
      res.end();
    });
  });
  await new Promise<void>((r) => consumer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(consumer.address() as AddressInfo).port}/failure`;
  const client = OpenStackClient.create({ credentials: lab.credentials() });
  try {
    const image = await client.image.create({ name: 'bench' });
    await client.image.upload(image.id, Buffer.alloc(1024));
    const flavor = await client.compute.flavors.create({ name: 'bench', ram: 64, vcpus: 1, disk: 1 });
    await client.compute.quotas.update(lab.cloud.adminProjectId, { instances: vms, cores: vms });
    const ids: string[] = [];
    for (let i = 0; i < vms; i++) ids.push((await client.compute.servers.create({ name: `vm${i}`, imageRef: image.id, flavorRef: flavor.id, networks: 'none' })).id);
    for (;;) {
      const list = await client.compute.servers.listDetail({ host: 'compute-1', allTenants: true });
      if (list.length === vms && list.every((s) => s.status === 'ACTIVE')) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    const alarmOf = new Map<string, string>();
    for (const [i, id] of ids.entries()) {
      const a = await client.alarming.createEventAlarm(doctorAlarmBody({ name: `a${i}`, vmId: id, consumerUrl: url }));
      alarmOf.set(a.id, id);
    }

    const started = preciseNow();
    const queue = [...ids];
    const callMs: number[] = [];
    await Promise.all([
      client.compute.services.forceDown('compute-1', true),
      ...Array.from({ length: Math.min(concurrency, vms) }, async () => {
        for (let id = queue.shift(); id; id = queue.shift()) {
          const t = preciseNow();
          await client.compute.servers.resetState(id, 'error');
          callMs.push(preciseNow() - t);
        }
      }),
    ]);
    const deadline = Date.now() + 10_000;
    while (arrivals.size < vms && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    const latencies = [...arrivals.values()].map((t) => t - started).sort((a, b) => a - b);
    callMs.sort((a, b) => a - b);
    return {
      vms,
      concurrency,
      notified: arrivals.size,
      first_ms: round(latencies[0] ?? NaN),
      last_ms: round(latencies.at(-1) ?? NaN),
      p50_ms: round(quantile(latencies, 0.5)),
      p95_ms: round(quantile(latencies, 0.95)),
      reset_call_p50_ms: round(quantile(callMs, 0.5)),
      reset_call_max_ms: round(callMs.at(-1) ?? NaN),
    };
  } finally {
    client.close();
    await lab.stop();
    await new Promise<void>((r) => consumer.close(() => r()));
  }
}

export async function cloudChainBench(): Promise<unknown> {
  // One warm-up so JIT and first-connection costs do not land on the 1-VM figure.
  await runOnce(5, 8);
  const results = [];
  for (const vms of [1, 20, 50]) {
    const runs: Array<Awaited<ReturnType<typeof runOnce>>> = [];
    for (let i = 0; i < 5; i++) runs.push(await runOnce(vms, 16));
    const med = (k: keyof (typeof runs)[number]) => round(quantile(runs.map((r) => Number(r[k])).sort((a, b) => a - b), 0.5));
    results.push({
      vms,
      runs: runs.length,
      notified_all: runs.every((r) => r.notified === vms),
      first_ms_median: med('first_ms'),
      last_ms_median: med('last_ms'),
      last_ms_worst: Math.max(...runs.map((r) => r.last_ms)),
      reset_call_p50_ms_median: med('reset_call_p50_ms'),
    });
  }
  return { name: 'cloud-chain', description: 'reset-state calls (16 concurrent) + force-down → Aodh webhook at a local consumer, in-process lab cloud with zero modelled latency', results };
}

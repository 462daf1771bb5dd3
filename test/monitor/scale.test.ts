/**
 * The monitor at scale on the embedded lab: each lab host answers hundreds of addresses (local
 * routes for whole /24s in its namespace), one monitor probes them all from one socket, and a
 * real link-down takes exactly that host's addresses down. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aliasAddresses, assertRoutedThroughLab, labRouteGuard, labUp, type LabState } from '../../src/lab/index.js';
import { Monitor, openIcmp, type HostDownEvent } from '../../src/monitor/index.js';
import { temporaryLab } from '../helpers/hosts.js';
import { eventually } from '../helpers/lab.js';

const PER_HOST = 300;
const SLOT_DIR = '/run/doctor-harness/lab-slots';
/** The slots a lab holds (its claim files name its folder); other labs may come and go meanwhile. */
const heldBy = (stateDir: string, slots: number[]) => slots.filter((s) => existsSync(join(SLOT_DIR, String(s))) && readFileSync(join(SLOT_DIR, String(s)), 'utf8') === stateDir);

describe('the monitor over hundreds of lab addresses', () => {
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let state: LabState;

  beforeAll(async () => {
    lab = await temporaryLab(2, 'doctor-scale-', { aliasesPerHost: PER_HOST });
    state = lab.state;
  });
  afterAll(async () => {
    await lab?.remove();
  });

  it('gives each host its own addresses, routed through its own link only', async () => {
    const [a, b] = state.hosts.map((h) => aliasAddresses(h.aliases!));
    expect(a).toHaveLength(PER_HOST);
    expect(b).toHaveLength(PER_HOST);
    expect(new Set([...a!, ...b!]).size).toBe(2 * PER_HOST);
    // Two /24s each, none the lab's own, all claimed by this lab.
    const slots = state.hosts.flatMap((h) => h.aliases!.slots);
    expect(new Set([state.slot, ...slots]).size).toBe(5);
    expect(heldBy(state.stateDir, [state.slot, ...slots])).toHaveLength(5);
    await assertRoutedThroughLab(a!, [state.hosts[0]!.vethRoot]);
    await expect(assertRoutedThroughLab(b!, [state.hosts[0]!.vethRoot])).rejects.toThrow(new RegExp(`refusing ${b![0]!.replace(/\./g, '\\.')}: .* goes out through ${state.hosts[1]!.vethRoot}`));
    // One lookup of many: the refused address is named even in the middle of the batch.
    await expect(labRouteGuard(state)([...a!.slice(0, 5), '127.0.0.1', ...b!.slice(0, 5)])).rejects.toThrow(/refusing 127\.0\.0\.1: .* goes out through lo/);
  });

  it('probes all 600 from one socket and sees exactly the cut host\'s 300 go down', async () => {
    const hosts = state.hosts.flatMap((h) => aliasAddresses(h.aliases!).map((ip, i) => ({ name: `${h.name}-a${i + 1}`, ip })));
    const monitor = new Monitor({ hosts, transport: await openIcmp(process.env), intervalMs: 100, timeoutMs: 100, k: 2, guard: labRouteGuard(state) });
    const downs: HostDownEvent[] = [];
    monitor.on('down', (e: HostDownEvent) => downs.push(e));
    const victim = state.hosts[1]!;
    try {
      await monitor.start();
      await monitor.ready(5_000);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(downs).toEqual([]);
      execFileSync('ip', ['-n', victim.namespace, 'link', 'set', 'dev', victim.vethHost, 'down']);
      await eventually(() => downs.length >= PER_HOST || undefined, 5_000, () => `${PER_HOST} downs (have ${downs.length})`);
      await new Promise((r) => setTimeout(r, 500));
      expect(downs).toHaveLength(PER_HOST);
      expect(new Set(downs.map((d) => d.host))).toEqual(new Set(hosts.filter((h) => h.name.startsWith(`${victim.name}-`)).map((h) => h.name)));
      const states = monitor.states();
      expect(states.filter((s) => s.state === 'up')).toHaveLength(PER_HOST);
      // One scheduler: every host was probed at the same cadence, none starved or doubled.
      const sent = states.filter((s) => s.host.startsWith('compute-1-')).map((s) => s.sent);
      expect(Math.max(...sent) - Math.min(...sent)).toBeLessThanOrEqual(1);
    } finally {
      monitor.stop();
      execFileSync('ip', ['-n', victim.namespace, 'link', 'set', 'dev', victim.vethHost, 'up']);
    }
  });

  it('gives back the /24s it no longer needs when brought up again with fewer addresses', async () => {
    const before = state.hosts[0]!.aliases!.slots;
    const smaller = await labUp({ stateDir: state.stateDir, labId: state.labId, hosts: 2, aliasesPerHost: 100 });
    const host = smaller.hosts[0]!;
    expect(host.aliases).toEqual({ slots: [before[0]], count: 100 });
    const dropped = `${aliasAddresses({ slots: [before[1]!], count: 1 })[0]!.replace(/\.1$/, '.0/24')}`;
    expect(execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' })).not.toContain(dropped);
    expect(execFileSync('ip', ['-n', host.namespace, 'route', 'show', 'table', 'local'], { encoding: 'utf8' })).not.toContain(dropped);
    expect(heldBy(state.stateDir, [before[1]!])).toEqual([]);
    state = smaller;
  });

  it('takes the routes and the slot claims away with the lab', async () => {
    const ranges = state.hosts.flatMap((h) => h.aliases!.slots);
    await lab.remove();
    const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
    for (const slot of ranges) expect(routes).not.toContain(aliasAddresses({ slots: [slot], count: 1 })[0]!.replace(/\.1$/, '.0/24'));
    expect(heldBy(state.stateDir, [state.slot, ...ranges])).toEqual([]);
  });
});

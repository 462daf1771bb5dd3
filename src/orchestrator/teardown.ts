import { NotFoundError, realSleep } from '../shared/index.js';
import type { OpenStackClient } from '../openstack/index.js';
import type { LedgerEntry } from './ledger.js';

const gone = (err: unknown) => err instanceof NotFoundError;

/**
 * Removes what the ledger lists, in dependency order, and sweeps each test
 * project for servers and alarms a crash may have left unrecorded. With
 * `sweepName` (the run's `doctor-<run id>`) the project, user and flavor of that
 * name go too: a run killed between a create and its ledger line left them
 * unrecorded. Every step is tried; failures are returned, never thrown, so one
 * failure does not leave the rest behind. Already-deleted resources count as removed.
 */
export async function removeResources(admin: OpenStackClient, entries: LedgerEntry[], opts: { deadlineMs?: number; sweepName?: string } = {}): Promise<string[]> {
  const deadlineMs = opts.deadlineMs ?? 120_000;
  const errors: string[] = [];
  const named: Array<{ kind: 'project' | 'user' | 'flavor'; id: string }> = [];
  if (opts.sweepName) {
    const name = opts.sweepName;
    try {
      const [project, user, flavor] = await Promise.all([admin.identity.findProject(name), admin.identity.findUser(name), admin.compute.flavors.findByName(name)]);
      if (project) named.push({ kind: 'project', id: project.id });
      if (user) named.push({ kind: 'user', id: user.id });
      if (flavor) named.push({ kind: 'flavor', id: flavor.id });
    } catch (err) {
      errors.push(`looking for what is named ${name}: ${(err as Error).message}`);
    }
  }
  const ids = (kind: LedgerEntry['kind']) => [...new Set([
    ...entries.filter((e) => e.kind === kind).map((e) => ('id' in e ? e.id : '')),
    ...named.filter((n) => n.kind === kind).map((n) => n.id),
  ])];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!gone(err)) errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  const projects = ids('project');

  for (const e of entries) if (e.kind === 'forced-down') await attempt(`clearing force-down on ${e.host}`, () => admin.compute.services.forceDown(e.host, false));

  const alarmIds = new Set(ids('alarm'));
  if (projects.length) {
    await attempt('listing alarms', async () => {
      // Aodh lists only the caller's project unless given one.
      for (const p of projects) for (const a of await admin.alarming.list({ projectId: p })) alarmIds.add(a.id);
    });
  }
  for (const id of alarmIds) await attempt(`deleting alarm ${id}`, () => admin.alarming.delete(id));

  const serverIds = new Set(ids('server'));
  if (projects.length) {
    await attempt('listing servers', async () => {
      for (const s of await admin.compute.servers.listDetail({ allTenants: true })) if (projects.includes(s.projectId)) serverIds.add(s.id);
    });
  }
  for (const id of serverIds) await attempt(`deleting server ${id}`, () => admin.compute.servers.delete(id));
  // Nova deletes asynchronously: the network and the project must outlive the servers.
  const deadline = Date.now() + deadlineMs;
  for (let delay = 50; serverIds.size; delay = Math.min(delay * 2, 2_000)) {
    for (const id of [...serverIds]) {
      try {
        await admin.compute.servers.get(id);
      } catch (err) {
        if (gone(err)) serverIds.delete(id);
      }
    }
    if (!serverIds.size) break;
    if (Date.now() + delay > deadline) {
      errors.push(`servers still present after ${deadlineMs / 1000} s: ${[...serverIds].join(', ')}`);
      break;
    }
    await realSleep(delay);
  }

  for (const id of ids('subnet')) await attempt(`deleting subnet ${id}`, () => admin.network.deleteSubnet(id));
  for (const id of ids('network')) await attempt(`deleting network ${id}`, () => admin.network.deleteNetwork(id));
  for (const id of ids('flavor')) await attempt(`deleting flavor ${id}`, () => admin.compute.flavors.delete(id));
  for (const id of ids('image')) await attempt(`deleting image ${id}`, () => admin.image.delete(id));
  for (const id of ids('user')) await attempt(`deleting user ${id}`, () => admin.identity.deleteUser(id));
  for (const id of projects) await attempt(`deleting project ${id}`, () => admin.identity.deleteProject(id));
  return errors;
}

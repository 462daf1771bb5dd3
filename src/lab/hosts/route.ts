import { HarnessError, type Runner, runProcess } from '../../shared/index.js';
import type { LabState } from './state.js';

/**
 * Lab mode's network guard: a target must be routed through one of the lab's
 * own veth links, so a typo can never send probes (or SSH) anywhere else.
 * Many targets are looked up in one `ip -batch` (a route lookup sends nothing).
 */
export async function assertRoutedThroughLab(ips: string | string[], labLinks: string[], run: Runner = runProcess): Promise<void> {
  const list = typeof ips === 'string' ? [ips] : ips;
  for (const ip of list) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new HarnessError(`"${ip}" is not an IPv4 address`);
  if (!list.length) return;
  const r = await run('ip', ['-j', '-batch', '-'], { input: `${list.map((ip) => `route get ${ip}`).join('\n')}\n` });
  // One JSON line per lookup; the batch stops at the first that fails (no route), so line i is list[i].
  const lines = r.stdout.split('\n').filter((l) => l.trim());
  for (const [i, ip] of list.entries()) {
    let dev: string | undefined;
    try {
      dev = (JSON.parse(lines[i] ?? '[]') as Array<{ dev?: string }>)[0]?.dev;
    } catch {
      dev = undefined;
    }
    if (!dev || !labLinks.includes(dev)) {
      throw new HarnessError(
        `refusing ${ip}: in lab mode targets must be routed through a lab link (${labLinks.join(', ') || 'none'}), but ${ip} ${dev ? `goes out through ${dev}` : 'has no route'}; use a lab host address (doctor lab status) or leave lab mode`,
      );
    }
  }
}

/** The guard a monitor (or an SSH step) takes in lab mode: every target through one of this lab's links. */
export function labRouteGuard(state: Pick<LabState, 'hosts'>, run: Runner = runProcess): (ips: string | string[]) => Promise<void> {
  const links = state.hosts.map((h) => h.vethRoot);
  return (ips) => assertRoutedThroughLab(ips, links, run);
}

/** The guard for a cloud service of the lab (its controller's broker): through a compute's link or the controller's. */
export function labServiceGuard(state: Pick<LabState, 'hosts' | 'controller'>, run: Runner = runProcess): (ips: string | string[]) => Promise<void> {
  return labRouteGuard({ hosts: [...state.hosts, ...(state.controller ? [state.controller] : [])] }, run);
}

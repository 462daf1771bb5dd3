import { HarnessError } from '../shared/errors.js';
import { runProcess, type Runner } from '../shared/process.js';

/**
 * Lab mode's network guard: a target must be routed through one of the lab's
 * own veth links, so a typo can never send probes (or SSH) anywhere else.
 */
export async function assertRoutedThroughLab(ip: string, labLinks: string[], run: Runner = runProcess): Promise<void> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new HarnessError(`"${ip}" is not an IPv4 address`);
  const r = await run('ip', ['-j', 'route', 'get', ip]);
  let dev: string | undefined;
  try {
    dev = (JSON.parse(r.stdout) as Array<{ dev?: string }>)[0]?.dev;
  } catch {
    dev = undefined;
  }
  if (r.exitCode !== 0 || !dev || !labLinks.includes(dev)) {
    throw new HarnessError(
      `refusing ${ip}: in lab mode targets must be routed through a lab link (${labLinks.join(', ') || 'none'}), but ${ip} ${dev ? `goes out through ${dev}` : 'has no route'}; use a lab host address (doctor lab status) or leave lab mode`,
    );
  }
}

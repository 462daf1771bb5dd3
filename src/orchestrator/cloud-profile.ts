/**
 * `--profile-cloud nova-api,nova-conductor,nova-compute`: during the fault window the controllers' nova-api
 * profiles each request it serves (a WSGI wrapper around Nova's own application, the lab's
 * scripts/lab/nova-api-profiled/nova-api-wsgi), nova-conductor and every nova-compute their whole process
 * (a green thread the lab's scripts/lab/nova-profiled wrappers start beside Nova's own entry point). Each is
 * switched on by a flag file that names a folder and an expiry, so a run that dies cannot leave it on.
 * Afterwards each service's profiles are merged on the controller (scripts/lab/prof-top.py, uploaded), the
 * merged `.prof` comes back next to the results and the top functions go into results.json and the reports.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, shellQuote } from '../shared/index.js';
import { PROFILED_SERVICES, type CloudProfile, type ProfiledFunction, type ProfiledService } from '../profiler/index.js';
import type { RunConfig } from './config.js';
import type { Environment } from './environment.js';
import type { CloudProfileHook, ControllerNode, ControllerSession } from './controller/index.js';

const MERGE_SCRIPT = fileURLToPath(new URL('../../scripts/lab/prof-top.py', import.meta.url));
/** Functions kept per kind of request. */
const TOP = 25;

interface WireTop { total_ms: number; top: WireFunction[]; hot: WireFunction[] }
interface Wire extends WireTop {
  requests: number;
  kinds: Array<WireTop & { kind: string; requests: number }>;
  prof?: string;
}
interface WireFunction { function: string; package: string; calls: number; primitive_calls: number; own_ms: number; cumulative_ms: number }

const fromWire = (f: WireFunction): ProfiledFunction => ({ function: f.function, package: f.package, calls: f.calls, primitiveCalls: f.primitive_calls, ownMs: f.own_ms, cumulativeMs: f.cumulative_ms });
const topOf = (w: WireTop) => ({ totalMs: w.total_ms, top: w.top.map(fromWire), hot: w.hot.map(fromWire) });

/** The controller layout's key for each service's hook, and what serves it so in the all-in-one lab. */
const LAYOUT: Record<ProfiledService, { key: 'novaApi' | 'novaConductor' | 'novaCompute'; how: string; restart: string }> = {
  'nova-api': { key: 'novaApi', how: 'serve nova-api through scripts/lab/nova-api-profiled/nova-api-wsgi', restart: 'doctor lab openstack restart nova-api' },
  'nova-conductor': { key: 'novaConductor', how: 'start nova-conductor as scripts/lab/nova-profiled/nova-conductor', restart: 'doctor lab openstack down, then up' },
  'nova-compute': { key: 'novaCompute', how: 'start each nova-compute as scripts/lab/nova-profiled/nova-compute', restart: 'doctor lab openstack down, then up' },
};

export interface ProfiledHook { service: ProfiledService; hook: CloudProfileHook }

/** The hook of each service asked for, in a fixed order, or an error naming the first one missing; none asked: undefined. */
export function cloudProfileHooks(config: RunConfig, env: Environment): { hooks: ProfiledHook[]; nodes: ControllerNode[] } | undefined {
  if (!config.profileCloud?.length) return undefined;
  const hooks = PROFILED_SERVICES.filter((s) => config.profileCloud!.includes(s)).map((service) => {
    const { key, how } = LAYOUT[service];
    const hook = env.cloudProfile?.hooks[key];
    if (!hook || !env.cloudProfile?.nodes.length) {
      throw new HarnessError(
        `--profile-cloud ${service}: this cloud's controller layout names no profile.${key} (flag and dir); the all-in-one lab's has it (doctor lab openstack up). `
          + `On another cloud, ${how} (DOCTOR_PROFILE_FLAG=<flag>) and name its flag and folder in controllerLayout`,
      );
    }
    return { service, hook };
  });
  return { hooks, nodes: env.cloudProfile!.nodes };
}

/**
 * Switches the services' profilers on on every controller until `untilS` (epoch seconds) at the latest;
 * the returned function switches them off, merges and fetches what was profiled. `off` is also what a
 * teardown runs when the run ends before (it only takes the flags away).
 */
export async function startCloudProfile(opts: {
  runId: string;
  hooks: ProfiledHook[];
  nodes: ControllerNode[];
  untilS: number;
  session: (node: ControllerNode) => Promise<ControllerSession>;
  resultsDir: string;
}): Promise<{ finish: () => Promise<CloudProfile[]>; off: () => Promise<void> }> {
  const { runId } = opts;
  const q = shellQuote;
  /** Each service's folder for this run. */
  const folder = (h: ProfiledHook) => `${h.hook.dir}/${runId}`;
  const onEachNode = (fn: (ssh: ControllerSession, node: ControllerNode) => Promise<void>) => Promise.all(opts.nodes.map(async (node) => {
    const ssh = await opts.session(node);
    try {
      await fn(ssh, node);
    } finally {
      ssh.close();
    }
  }));
  await onEachNode(async (ssh, node) => {
    for (const h of opts.hooks) {
      const { flag } = h.hook;
      // Written aside and renamed: a service never reads half a flag.
      const r = await ssh.exec(`mkdir -p -m 700 ${q(folder(h))} && printf '%s\\n%s\\n' ${q(folder(h))} ${Math.ceil(opts.untilS)} > ${q(`${flag}.${runId}`)} && mv -f ${q(`${flag}.${runId}`)} ${q(flag)}`, 30_000);
      if (r.code !== 0) throw new HarnessError(`cannot switch ${h.service}'s profiler on on ${node.name} (${flag}): ${r.stderr.trim() || `exit ${r.code}`}`);
    }
  });
  let switchedOff = false;
  const off = async () => {
    if (switchedOff) return;
    // Only our own flags: another run's may have replaced them since.
    await onEachNode(async (ssh) => {
      await ssh.exec(opts.hooks.map((h) => `if grep -qxF ${q(folder(h))} ${q(h.hook.flag)} 2>/dev/null; then rm -f ${q(h.hook.flag)}; fi`).join('; '), 30_000);
    });
    switchedOff = true;
  };
  const finish = async (): Promise<CloudProfile[]> => {
    await off();
    const merged = await Promise.all(opts.nodes.map((node) => mergeOn(node, opts, folder)));
    return merged.flat();
  };
  return { finish, off };
}

/** Merges each service's profiles on one controller (one upload of the merge script) and brings the merged files back. */
async function mergeOn(node: ControllerNode, opts: { hooks: ProfiledHook[]; runId: string; resultsDir: string; session: (node: ControllerNode) => Promise<ControllerSession> }, folder: (h: ProfiledHook) => string): Promise<CloudProfile[]> {
  const q = shellQuote;
  const base = (service: ProfiledService) => ({ service, node: node.name, requests: 0, kinds: [], totalMs: 0, top: [], hot: [] });
  let ssh: ControllerSession;
  try {
    ssh = await opts.session(node);
  } catch (err) {
    return opts.hooks.map((h) => ({ ...base(h.service), error: (err as Error).message }));
  }
  const script = `${opts.hooks[0]!.hook.dir}/${opts.runId}.prof-top.py`;
  try {
    await ssh.writeFile(script, readFileSync(MERGE_SCRIPT, 'utf8'), 0o600);
    const out: CloudProfile[] = [];
    for (const h of opts.hooks) {
      try {
        const r = await ssh.exec(`python3 ${q(script)} ${q(folder(h))} ${TOP}`, 180_000);
        if (r.code !== 0) throw new HarnessError(`merging the profiles failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
        const w = JSON.parse(r.stdout) as Wire;
        let file: string | undefined;
        if (w.prof) {
          file = join('cloud-profile', `${h.service}-${node.name}.prof`);
          mkdirSync(join(opts.resultsDir, 'cloud-profile'), { recursive: true });
          writeFileSync(join(opts.resultsDir, file), Buffer.from(w.prof, 'base64'));
        }
        if (!w.requests) {
          const { how, restart } = LAYOUT[h.service];
          out.push({ ...base(h.service), error: `${h.service} wrote no profile during the window: is it run as the lab runs it (${how}, with DOCTOR_PROFILE_FLAG=${h.hook.flag})? (a lab started by an older version: ${restart})` });
          continue;
        }
        out.push({ ...base(h.service), requests: w.requests, ...(file ? { file } : {}), kinds: w.kinds.map((k) => ({ kind: k.kind, requests: k.requests, ...topOf(k) })), ...topOf(w) });
      } catch (err) {
        out.push({ ...base(h.service), error: (err as Error).message });
      }
    }
    return out;
  } catch (err) {
    return opts.hooks.map((h) => ({ ...base(h.service), error: (err as Error).message }));
  } finally {
    // The script and the run's folders, merged or not: one place, whatever happened above.
    await ssh.exec(`rm -rf ${[script, ...opts.hooks.map(folder)].map(q).join(' ')}`, 30_000).catch(() => undefined);
    ssh.close();
  }
}

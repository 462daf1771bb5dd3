/**
 * `--profile-cloud nova-api`: the controllers' nova-api profiles each request it serves during the fault
 * window (a WSGI wrapper around Nova's own application, the lab's scripts/lab/nova-api-profiled/nova-api-wsgi,
 * switched on by a flag file that names a folder and an expiry, so a run that dies cannot leave it on).
 * Afterwards the profiles are merged on the controller (scripts/lab/prof-top.py, uploaded), the merged
 * `.prof` comes back next to the results and the top functions go into results.json and the reports.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, shellQuote } from '../shared/index.js';
import type { CloudProfile, ProfiledFunction } from '../profiler/index.js';
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

/** The hook each profiled service needs, or an error saying how to get one; none asked: undefined. */
export function cloudProfileHooks(config: RunConfig, env: Environment): { hook: CloudProfileHook; nodes: ControllerNode[] } | undefined {
  if (!config.profileCloud?.length) return undefined;
  const hook = env.cloudProfile?.hooks.novaApi;
  if (!hook || !env.cloudProfile?.nodes.length) {
    throw new HarnessError(
      '--profile-cloud nova-api: this cloud\'s controller layout names no profile.novaApi (flag and dir); the all-in-one lab\'s has it (doctor lab openstack up). '
        + 'On another cloud, serve nova-api through scripts/lab/nova-api-profiled/nova-api-wsgi (DOCTOR_PROFILE_FLAG=<flag>) and name its flag and folder in controllerLayout',
    );
  }
  return { hook, nodes: env.cloudProfile.nodes };
}

/**
 * Switches nova-api's profiler on on every controller until `untilS` (epoch seconds) at the latest; the
 * returned function switches it off, merges and fetches what was profiled. `off` is also what a teardown
 * runs when the run ends before (it only takes the flag away).
 */
export async function startCloudProfile(opts: {
  runId: string;
  hook: CloudProfileHook;
  nodes: ControllerNode[];
  untilS: number;
  session: (node: ControllerNode) => Promise<ControllerSession>;
  resultsDir: string;
}): Promise<{ finish: () => Promise<CloudProfile[]>; off: () => Promise<void> }> {
  const { hook, runId } = opts;
  const folder = `${hook.dir}/${runId}`;
  const q = shellQuote;
  await Promise.all(opts.nodes.map(async (node) => {
    const ssh = await opts.session(node);
    try {
      // Written aside and renamed: a request never reads half a flag.
      const r = await ssh.exec(`mkdir -p -m 700 ${q(folder)} && printf '%s\\n%s\\n' ${q(folder)} ${Math.ceil(opts.untilS)} > ${q(`${hook.flag}.${runId}`)} && mv -f ${q(`${hook.flag}.${runId}`)} ${q(hook.flag)}`, 30_000);
      if (r.code !== 0) throw new HarnessError(`cannot switch nova-api's profiler on on ${node.name} (${hook.flag}): ${r.stderr.trim() || `exit ${r.code}`}`);
    } finally {
      ssh.close();
    }
  }));
  let switchedOff = false;
  const off = async () => {
    if (switchedOff) return;
    await Promise.all(opts.nodes.map(async (node) => {
      const ssh = await opts.session(node);
      try {
        // Only our own flag: another run's may have replaced it since.
        await ssh.exec(`if grep -qxF ${q(folder)} ${q(hook.flag)} 2>/dev/null; then rm -f ${q(hook.flag)}; fi`, 30_000);
      } finally {
        ssh.close();
      }
    }));
    switchedOff = true;
  };
  const finish = async (): Promise<CloudProfile[]> => {
    await off();
    return Promise.all(opts.nodes.map(async (node): Promise<CloudProfile> => {
      const base = { service: 'nova-api' as const, node: node.name, requests: 0, kinds: [], totalMs: 0, top: [], hot: [] };
      let ssh: ControllerSession | undefined;
      try {
        ssh = await opts.session(node);
        const script = `${folder}.prof-top.py`;
        await ssh.writeFile(script, readFileSync(MERGE_SCRIPT, 'utf8'), 0o600);
        const r = await ssh.exec(`python3 ${q(script)} ${q(folder)} ${TOP}; s=$?; rm -rf ${q(folder)} ${q(script)}; exit $s`, 180_000);
        if (r.code !== 0) throw new HarnessError(`merging the profiles failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
        const w = JSON.parse(r.stdout) as Wire;
        let file: string | undefined;
        if (w.prof) {
          file = join('cloud-profile', `nova-api-${node.name}.prof`);
          mkdirSync(join(opts.resultsDir, 'cloud-profile'), { recursive: true });
          writeFileSync(join(opts.resultsDir, file), Buffer.from(w.prof, 'base64'));
        }
        const kinds = w.kinds.map((k) => ({ kind: k.kind, requests: k.requests, ...topOf(k) }));
        if (!w.requests) return { ...base, error: `nova-api wrote no profile during the window: is it served through scripts/lab/nova-api-profiled/nova-api-wsgi with DOCTOR_PROFILE_FLAG=${hook.flag}? (the lab restarts it with: doctor lab openstack restart nova-api)` };
        return { ...base, requests: w.requests, ...(file ? { file } : {}), kinds, ...topOf(w) };
      } catch (err) {
        return { ...base, error: (err as Error).message };
      } finally {
        ssh?.close();
      }
    }));
  };
  return { finish, off };
}

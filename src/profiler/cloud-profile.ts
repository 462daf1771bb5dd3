/**
 * A cloud service's own profile during the fault window (doctor run --profile-cloud): nova-api's of each
 * request it served, nova-conductor's and each nova-compute's of the whole process. What results.json
 * records, and how the console and HTML reports show it (under the component the service belongs to:
 * nova-api and nova-conductor under the controller, checkpoints 4→5).
 */

/** One function of a profile, by cumulative time (with everything it called). */
export interface ProfiledFunction {
  /** `path/below/the/package/root.py:line(name)`, or a builtin's name. */
  function: string;
  /** The top-level package it is in (nova, oslo_db, sqlalchemy, keystonemiddleware, python, …). */
  package: string;
  calls: number;
  primitiveCalls: number;
  ownMs: number;
  cumulativeMs: number;
}

/** Where a set of requests spent its time. */
export interface ProfileTop {
  /** The requests' own time, all of them (profiled: slower than unprofiled). */
  totalMs: number;
  /** By cumulative time, below the WSGI stack (frames holding 90 % of the requests or more are left out). */
  top: ProfiledFunction[];
  /** By own time: where the CPU went. */
  hot: ProfiledFunction[];
}

/** The services a run can profile; nova-api per request, the others per process. */
export const PROFILED_SERVICES = ['nova-api', 'nova-conductor', 'nova-compute'] as const;
export type ProfiledService = (typeof PROFILED_SERVICES)[number];
const perRequest = (s: ProfiledService) => s === 'nova-api';

export interface CloudProfile extends ProfileTop {
  service: ProfiledService;
  node: string;
  /** nova-api: requests profiled during the window; the others: processes (a nova-compute per compute host). */
  requests: number;
  /** The merged profile (pstats' format), relative to the run's results folder. */
  file?: string;
  /** nova-api: per kind of request (method and path without ids), the most frequent first; the others: per process. */
  kinds: Array<ProfileTop & { kind: string; requests: number }>;
  error?: string;
}

/** The component a profiled service's time is part of (checkpoints.ts's names). */
export const PROFILED_COMPONENT: Record<ProfiledService, string> = {
  'nova-api': 'controller (nova)', 'nova-conductor': 'controller (nova)', 'nova-compute': 'compute hosts (off the notification path)',
};

/** `POST_v2.1_servers_{id}_action` → `POST /v2.1/servers/{id}/action`. */
export const kindLabel = (kind: string) => kind.replace(/^([A-Z]+)_/, '$1 /').replace(/_/g, '/');

/** The kind a Doctor run is about: nova-api's reset-state calls, else the most frequent; a service's whole process: none. */
export function headlineKind(p: CloudProfile): CloudProfile['kinds'][number] | undefined {
  if (!perRequest(p.service)) return undefined;
  return p.kinds.find((k) => /^POST_.*servers_\{id\}_action$/.test(k.kind)) ?? p.kinds[0];
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** What a service's profile is of, as the reports say it. */
function subject(p: CloudProfile): string {
  return perRequest(p.service) ? `${p.requests} request(s)` : `${p.requests} process(es) (${p.kinds.map((k) => processLabel(k.kind)).join(', ')})`;
}
/** `nova-compute_compute-1` (the name a compute's profile carries) → `nova-compute on compute-1`. */
const processLabel = (kind: string) => kind.replace(/^nova-compute_/, 'nova-compute on ');

/** What the reports headline for a profile: the reset requests (nova-api), or the whole process(es) merged. */
function headline(p: CloudProfile): { title: string; below: string; top: ProfileTop } | undefined {
  if (!perRequest(p.service)) return { title: `the whole of ${p.service} for the fault window (${fmt(p.totalMs)})`, below: 'below its event loop', top: p };
  const k = headlineKind(p);
  return k && { title: `${kindLabel(k.kind)} × ${k.requests} (${fmt(k.totalMs)} in all)`, below: 'below the WSGI stack', top: k };
}

/** The console lines: per profiled service, its top functions (for the reset requests, or the whole process) and what else it served. */
export function renderCloudProfiles(profiles: CloudProfile[], rows = 10): string[] {
  const out: string[] = [];
  for (const p of profiles) {
    const head = `  ${PROFILED_COMPONENT[p.service]}: ${p.service}'s own profile on ${p.node}`;
    if (p.error) {
      out.push('', `${head}: not available (${p.error})`);
      continue;
    }
    out.push('', `${head}, ${subject(p)} profiled with eventlet's profiler${p.file ? ` (${p.file}; python3 -m pstats)` : ''}; profiled, it runs slower`);
    const h = headline(p);
    if (!h) continue;
    const line = (f: ProfiledFunction) => `    ${fmt(f.cumulativeMs).padStart(12)} ${fmt(f.ownMs).padStart(10)} ${String(f.calls).padStart(7)}  ${f.function} [${f.package}]`;
    out.push(`    ${h.title}, top functions by cumulative time ${h.below}:`);
    out.push(`    ${'cumulative'.padStart(12)} ${'own'.padStart(10)} ${'calls'.padStart(7)}  function`);
    out.push(...h.top.top.slice(0, rows).map(line));
    out.push('    and by own time:', ...h.top.hot.slice(0, Math.ceil(rows / 2)).map(line));
    const k = headlineKind(p);
    const others = perRequest(p.service) ? p.kinds.filter((x) => x !== k) : [];
    if (others.length) out.push(`    also profiled: ${others.map((x) => `${kindLabel(x.kind)} × ${x.requests}`).join(', ')}`);
  }
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The HTML section: nova-api, one table per kind of request, the reset requests first; a service, its whole process, then each process. */
export function cloudProfilesHtml(profiles: CloudProfile[], rows = 15): string {
  return profiles.map((p) => {
    const title = `<h2>${esc(PROFILED_COMPONENT[p.service])}: ${esc(p.service)}'s own profile <small>${esc(p.node)}</small></h2>`;
    if (p.error) return `<section class="cloud-profile">${title}<p>Not available: ${esc(p.error)}</p></section>`;
    const table = (caption: string, fs: ProfiledFunction[]) => `<table class="functions"><caption>${esc(caption)}</caption><thead><tr><th>Cumulative</th><th>Own</th><th>Calls</th><th>Function</th><th>Package</th></tr></thead><tbody>${
      fs.slice(0, rows).map((f) => `<tr><td class="num">${fmt(f.cumulativeMs)}</td><td class="num">${fmt(f.ownMs)}</td><td class="num">${f.calls}</td><td><code>${esc(f.function)}</code></td><td>${esc(f.package)}</td></tr>`).join('')}</tbody></table>`;
    const section = (heading: string, below: string, t: ProfileTop) => `<h3>${heading}</h3>${table(`by cumulative time, ${below}`, t.top)}${table('by own time', t.hot)}`;
    let tables: string[];
    if (perRequest(p.service)) {
      const head = headlineKind(p);
      const kinds = head ? [head, ...p.kinds.filter((k) => k !== head)] : [];
      tables = kinds.map((k) => section(`${esc(kindLabel(k.kind))} × ${k.requests} <small>${fmt(k.totalMs)} in all</small>`, 'below the WSGI stack', k));
    } else {
      tables = [section(`the whole of ${esc(p.service)} <small>${fmt(p.totalMs)}</small>`, 'below its event loop', p)];
      if (p.kinds.length > 1) tables.push(...p.kinds.map((k) => section(`${esc(processLabel(k.kind))} <small>${fmt(k.totalMs)}</small>`, 'below its event loop', k)));
    }
    return `<section class="cloud-profile">${title}<p>${esc(subject(p))} profiled with eventlet's profiler during the fault window${p.file ? `; the merged profile: <code>${esc(p.file)}</code> (<code>python3 -m pstats</code>)` : ''}. Profiled, it runs slower: this run's times are not comparable.</p>${tables.join('')}</section>`;
  }).join('\n');
}

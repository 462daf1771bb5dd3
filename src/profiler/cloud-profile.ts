/**
 * A cloud service's own profile of its requests during the fault window (doctor run --profile-cloud):
 * what results.json records, and how the console and HTML reports show it (under the component the
 * service belongs to: nova-api under the controller, checkpoints 1→5).
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

export interface CloudProfile extends ProfileTop {
  service: 'nova-api';
  node: string;
  /** Requests profiled during the window. */
  requests: number;
  /** The merged profile (pstats' format), relative to the run's results folder. */
  file?: string;
  /** Per kind of request (method and path without ids), the most frequent first. */
  kinds: Array<ProfileTop & { kind: string; requests: number }>;
  error?: string;
}

/** The component a profiled service's time is part of (checkpoints.ts's names). */
export const PROFILED_COMPONENT: Record<CloudProfile['service'], string> = { 'nova-api': 'controller (nova)' };

/** `POST_v2.1_servers_{id}_action` → `POST /v2.1/servers/{id}/action`. */
export const kindLabel = (kind: string) => kind.replace(/^([A-Z]+)_/, '$1 /').replace(/_/g, '/');

/** The kind a Doctor run is about: the inspector's reset-state calls, else the most frequent. */
export function headlineKind(p: CloudProfile): CloudProfile['kinds'][number] | undefined {
  return p.kinds.find((k) => /^POST_.*servers_\{id\}_action$/.test(k.kind)) ?? p.kinds[0];
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** The console lines: per profiled service, its top functions for the reset requests and what else it served. */
export function renderCloudProfiles(profiles: CloudProfile[], rows = 10): string[] {
  const out: string[] = [];
  for (const p of profiles) {
    const head = `  ${PROFILED_COMPONENT[p.service]}: ${p.service}'s own profile on ${p.node}`;
    if (p.error) {
      out.push('', `${head}: not available (${p.error})`);
      continue;
    }
    out.push('', `${head}, ${p.requests} request(s) profiled with eventlet's profiler${p.file ? ` (${p.file}; python3 -m pstats)` : ''}; profiled requests run slower`);
    const k = headlineKind(p);
    if (!k) continue;
    const line = (f: ProfiledFunction) => `    ${fmt(f.cumulativeMs).padStart(12)} ${fmt(f.ownMs).padStart(10)} ${String(f.calls).padStart(7)}  ${f.function} [${f.package}]`;
    out.push(`    ${kindLabel(k.kind)} × ${k.requests} (${fmt(k.totalMs)} in all), top functions by cumulative time below the WSGI stack:`);
    out.push(`    ${'cumulative'.padStart(12)} ${'own'.padStart(10)} ${'calls'.padStart(7)}  function`);
    out.push(...k.top.slice(0, rows).map(line));
    out.push('    and by own time:', ...k.hot.slice(0, Math.ceil(rows / 2)).map(line));
    const others = p.kinds.filter((x) => x !== k);
    if (others.length) out.push(`    also profiled: ${others.map((x) => `${kindLabel(x.kind)} × ${x.requests}`).join(', ')}`);
  }
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The HTML section: one table per kind of request, the reset requests first. */
export function cloudProfilesHtml(profiles: CloudProfile[], rows = 15): string {
  return profiles.map((p) => {
    const title = `<h2>${esc(PROFILED_COMPONENT[p.service])}: ${esc(p.service)}'s own profile <small>${esc(p.node)}</small></h2>`;
    if (p.error) return `<section class="cloud-profile">${title}<p>Not available: ${esc(p.error)}</p></section>`;
    const head = headlineKind(p);
    const kinds = head ? [head, ...p.kinds.filter((k) => k !== head)] : [];
    const table = (caption: string, fs: ProfiledFunction[]) => `<table class="functions"><caption>${esc(caption)}</caption><thead><tr><th>Cumulative</th><th>Own</th><th>Calls</th><th>Function</th><th>Package</th></tr></thead><tbody>${
      fs.slice(0, rows).map((f) => `<tr><td class="num">${fmt(f.cumulativeMs)}</td><td class="num">${fmt(f.ownMs)}</td><td class="num">${f.calls}</td><td><code>${esc(f.function)}</code></td><td>${esc(f.package)}</td></tr>`).join('')}</tbody></table>`;
    const tables = kinds.map((k) => `<h3>${esc(kindLabel(k.kind))} × ${k.requests} <small>${fmt(k.totalMs)} in all</small></h3>${table('by cumulative time, below the WSGI stack', k.top)}${table('by own time', k.hot)}`);
    return `<section class="cloud-profile">${title}<p>${p.requests} request(s) profiled with eventlet's profiler during the fault window${p.file ? `; the merged profile: <code>${esc(p.file)}</code> (<code>python3 -m pstats</code>)` : ''}. Profiled requests run slower: this run's times are not comparable.</p>${tables.join('')}</section>`;
  }).join('\n');
}

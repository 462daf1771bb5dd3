import type { Session } from '../session.js';
import { HarnessError } from '../../shared/index.js';

/**
 * Every page of a Nova list: Nova answers at most `[api] max_limit` items (1000) and links the next page
 * (`<key>_links`, rel next, its marker the last item's id). A cloud that links back to a page already
 * read is refused rather than followed for ever.
 */
export async function allPages<W extends { id: string | number }>(
  s: Session, path: string, key: string, query: Record<string, string | number | undefined> = {},
): Promise<W[]> {
  const out: W[] = [];
  const seen = new Set<string>();
  for (let marker: string | undefined; ;) {
    const r = await s.request<Record<string, unknown>>({ service: 'compute', method: 'GET', path, microversion: true, query: { ...query, marker } });
    const items = r.data[key];
    if (!Array.isArray(items)) throw new HarnessError(`GET ${path}: the answer has no "${key}" list`);
    out.push(...(items as W[]));
    const links = r.data[`${key}_links`] as Array<{ rel?: string; href?: string }> | undefined;
    const next = links?.find((l) => l.rel === 'next')?.href;
    if (!next || !items.length) return out;
    marker = nextMarker(next) ?? String((items.at(-1) as W).id);
    if (seen.has(marker)) throw new HarnessError(`GET ${path}: the next link repeats marker ${marker}; the cloud's paging is broken`);
    seen.add(marker);
  }
}

function nextMarker(href: string): string | undefined {
  try {
    return new URL(href).searchParams.get('marker') ?? undefined;
  } catch {
    return undefined;
  }
}

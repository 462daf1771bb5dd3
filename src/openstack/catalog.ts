import { NotSupportedError } from '../shared/index.js';

export interface CatalogEndpoint {
  interface: string;
  region?: string | null;
  region_id?: string | null;
  url: string;
}

export interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

const HINT: Record<string, string> = {
  alarming: 'is Aodh installed?',
  network: 'is Neutron installed?',
  image: 'is Glance installed?',
};

/** The endpoint URL for a service type, interface and (optional) region. */
export function findEndpoint(
  catalog: CatalogEntry[],
  type: string,
  iface: string,
  region?: string,
): string {
  const entry = catalog.find((e) => e.type === type);
  if (!entry) {
    const have = catalog.map((e) => e.type).join(', ') || 'nothing';
    throw new NotSupportedError(
      `the service catalog has no "${type}" service (it has ${have}); ${HINT[type] ?? ''} ` +
        `or set OS_${type.toUpperCase()}_ENDPOINT_OVERRIDE`.replace('  ', ' '),
    );
  }
  const match = entry.endpoints.find(
    (ep) => ep.interface === iface && (!region || ep.region_id === region || ep.region === region),
  );
  if (!match) {
    const have = entry.endpoints.map((ep) => `${ep.interface}@${ep.region_id ?? ep.region ?? '-'}`).join(', ');
    throw new NotSupportedError(
      `the "${type}" service has no ${iface} endpoint${region ? ` in region ${region}` : ''} ` +
        `(it has ${have}); set OS_INTERFACE / OS_REGION_NAME to one of those`,
    );
  }
  return match.url.replace(/\/+$/, '');
}

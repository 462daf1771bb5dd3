/**
 * Where lab hosts live: each lab takes one /24 of 198.18.0.0/15 (a "slot"),
 * each host one /30 of it: the root side of its veth pair gets .1, the host .2.
 * Host 1 of slot 0 is 198.18.0.2, host 2 is 198.18.0.6, and so on.
 */

export const LAB_NET = { first: ipToInt('198.18.0.0'), size: 2 ** 17 };
export const MAX_SLOTS = 512;
export const MAX_HOSTS = 63;
export const LAB_ID = /^[a-z0-9]{1,5}$/;

export interface HostAddressing {
  index: number;
  name: string;
  namespace: string;
  vethRoot: string;
  vethHost: string;
  rootIp: string;
  hostIp: string;
  prefix: number;
}

export function hostAddressing(labId: string, slot: number, index: number): HostAddressing {
  if (!LAB_ID.test(labId)) throw new RangeError(`lab id "${labId}" must be 1-5 lowercase letters or digits`);
  if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOTS) throw new RangeError(`slot ${slot} is outside 0-${MAX_SLOTS - 1}`);
  if (!Number.isInteger(index) || index < 1 || index > MAX_HOSTS) throw new RangeError(`host index ${index} is outside 1-${MAX_HOSTS}`);
  const base = LAB_NET.first + slot * 256 + (index - 1) * 4;
  return {
    index,
    name: `compute-${index}`,
    namespace: `doctor-${labId}-compute-${index}`,
    vethRoot: `dh${labId}r${index}`,
    vethHost: `dh${labId}h${index}`,
    rootIp: intToIp(base + 1),
    hostIp: intToIp(base + 2),
    prefix: 30,
  };
}

/**
 * The lab's controller host: the last /30 of the slot (after the 63 computes), named `controller`.
 * It runs the control plane of a multi-node lab and is what reverse tunnels start from.
 */
export function controllerAddressing(labId: string, slot: number): HostAddressing {
  const base = { ...hostAddressing(labId, slot, MAX_HOSTS) };
  const first = ipToInt(base.rootIp) + 4;
  return {
    index: MAX_HOSTS + 1, name: 'controller', namespace: `doctor-${labId}-controller`, vethRoot: `dh${labId}r0`, vethHost: `dh${labId}h0`,
    rootIp: intToIp(first), hostIp: intToIp(first + 1), prefix: 30,
  };
}

/** Addresses a slot gives as aliases: .1 to .254 (not the network or broadcast address). */
export const ALIASES_PER_SLOT = 254;

/** The first `count` alias addresses of `slots`, in order. */
export function aliasAddresses(aliases: { slots: number[]; count: number }): string[] {
  const out: string[] = [];
  for (const slot of aliases.slots) {
    for (let i = 1; i <= ALIASES_PER_SLOT && out.length < aliases.count; i++) out.push(`${slotPrefix(slot)}${i}`);
  }
  return out;
}

/** The /24 a slot covers, e.g. "198.18.3.". */
export function slotPrefix(slot: number): string {
  return intToIp(LAB_NET.first + slot * 256).replace(/\d+$/, '');
}

export function isLabAddress(ip: string): boolean {
  const n = ipToIntOrNaN(ip);
  return n >= LAB_NET.first && n < LAB_NET.first + LAB_NET.size;
}

export function ipToInt(ip: string): number {
  const n = ipToIntOrNaN(ip);
  if (Number.isNaN(n)) throw new TypeError(`"${ip}" is not an IPv4 address`);
  return n;
}

function ipToIntOrNaN(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return NaN;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

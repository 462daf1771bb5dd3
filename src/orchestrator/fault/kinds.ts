import { ConfigError } from '../../shared/index.js';

/**
 * The faults a run can inject, by their effect on the host. Each is made on the host by one script
 * (FAULT_SCRIPT), started detached over SSH, that puts it back by itself after the duration.
 */
export type FaultSpec = { kind: 'link-down' } | { kind: 'icmp-blackhole' } | { kind: 'icmp-loss'; percent: number };
export type FaultKind = FaultSpec['kind'];

/** Each fault: its name as `--fault` takes it, its parameter (if any) and what it does; `--fault`'s help comes from here. */
export const FAULTS: ReadonlyArray<{ kind: FaultKind; param?: string; help: string }> = [
  { kind: 'link-down', help: 'the interface holding the compute IP goes down (ip link), then up: the host is cut off' },
  { kind: 'icmp-blackhole', help: 'every ICMP packet to or from the compute IP is dropped (iptables) while everything else works: a gray failure only an ICMP detector sees' },
  { kind: 'icmp-loss', param: 'P', help: 'P % of the ICMP packets to the compute IP are dropped at random (iptables statistic), 0 < P ≤ 100' },
];

/** `link-down`, `icmp-blackhole`, `icmp-loss:30`: a fault as `--fault` takes it; a ConfigError naming `flag` otherwise. */
export function parseFault(text: string, flag = '--fault'): FaultSpec {
  const [name = '', param, ...extra] = text.trim().split(':');
  const known = FAULTS.find((f) => f.kind === name);
  const list = FAULTS.map((f) => (f.param ? `${f.kind}:${f.param}` : f.kind)).join(', ');
  if (!known) throw new ConfigError(flag, `"${text}" is not a fault; the faults are ${list}`);
  if (extra.length || (param !== undefined && !known.param)) throw new ConfigError(flag, `"${text}": ${name} takes ${known.param ? `one parameter (${name}:${known.param})` : 'no parameter'}`);
  if (known.kind === 'icmp-loss') {
    const percent = Number(param);
    if (param === undefined || !/^\d{1,3}(\.\d{1,2})?$/.test(param) || percent <= 0 || percent > 100) {
      throw new ConfigError(flag, `"${text}": icmp-loss takes the share of ICMP packets to drop in %, more than 0 and at most 100, two decimals at most (e.g. icmp-loss:30)`);
    }
    return { kind: 'icmp-loss', percent };
  }
  return { kind: known.kind } as FaultSpec;
}

/** The fault as `--fault` takes it (and as reports name it). */
export function faultLabel(f: FaultSpec): string {
  return f.kind === 'icmp-loss' ? `${f.kind}:${f.percent}` : f.kind;
}

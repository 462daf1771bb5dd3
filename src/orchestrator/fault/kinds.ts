import { ConfigError } from '../../shared/index.js';

/**
 * The faults a run can inject, by their effect on the host. Each is made on the host by one script
 * (FAULT_SCRIPT), started detached over SSH, that puts it back by itself after the duration.
 */
export type FaultSpec =
  | { kind: 'link-down' }
  | { kind: 'icmp-blackhole' }
  | { kind: 'icmp-loss'; percent: number }
  | { kind: 'freeze' }
  | { kind: 'power-off' }
  | { kind: 'flap'; count: number; outageMs: number };
export type FaultKind = FaultSpec['kind'];

/** Each fault: its name as `--fault` takes it, its parameter (if any) and what it does; `--fault`'s help comes from here. */
export const FAULTS: ReadonlyArray<{ kind: FaultKind; param?: string; help: string }> = [
  { kind: 'link-down', help: 'the interface holding the compute IP goes down (ip link), then up: the host is cut off' },
  { kind: 'icmp-blackhole', help: 'every ICMP packet to or from the compute IP is dropped (iptables) while everything else works: a gray failure only an ICMP detector sees' },
  { kind: 'icmp-loss', param: 'P', help: 'P % of the ICMP packets to the compute IP are dropped at random (iptables statistic), 0 < P ≤ 100' },
  { kind: 'freeze', help: 'every process of the host stopped (SIGSTOP) and all its traffic dropped, then continued: a hung host' },
  { kind: 'power-off', help: 'the host powered off, then on: a lab host by the fault script (its link down and every process of it stopped), any host through a power driver (--power-off-command, --power-on-command)' },
  { kind: 'flap', param: 'NxD', help: 'N outages of D ms (all traffic dropped), D ms apart, then the host stays up (the fault duration does not apply); N up to 100, D from 10 to 60000' },
];

/** How `--fault` takes one fault: `link-down`, `icmp-loss:P`. */
export const faultSyntax = (f: (typeof FAULTS)[number]): string => (f.param ? `${f.kind}:${f.param}` : f.kind);

/** The faults as `--fault` takes them: `link-down, icmp-blackhole, icmp-loss:P, …`. */
export const FAULT_CHOICES = FAULTS.map(faultSyntax).join(', ');

/** `link-down`, `icmp-blackhole`, `icmp-loss:30`: a fault as `--fault` takes it; a ConfigError naming `flag` otherwise. */
export function parseFault(text: string, flag = '--fault'): FaultSpec {
  const [name = '', param, ...extra] = text.trim().split(':');
  const known = FAULTS.find((f) => f.kind === name);
  if (!known) throw new ConfigError(flag, `"${text}" is not a fault; the faults are ${FAULT_CHOICES}`);
  if (extra.length || (param !== undefined && !known.param)) throw new ConfigError(flag, `"${text}": ${name} takes ${known.param ? `one parameter (${name}:${known.param})` : 'no parameter'}`);
  if (known.kind === 'icmp-loss') {
    const percent = Number(param);
    if (param === undefined || !/^\d{1,3}(\.\d{1,2})?$/.test(param) || percent <= 0 || percent > 100) {
      throw new ConfigError(flag, `"${text}": icmp-loss takes the share of ICMP packets to drop in %, more than 0 and at most 100, two decimals at most (e.g. icmp-loss:30)`);
    }
    return { kind: 'icmp-loss', percent };
  }
  if (known.kind === 'flap') {
    const m = /^(\d{1,3})x(\d{1,5})$/.exec(param ?? '');
    const count = Number(m?.[1]);
    const outageMs = Number(m?.[2]);
    if (!m || count < 1 || count > 100 || outageMs < 10 || outageMs > 60_000) {
      throw new ConfigError(flag, `"${text}": flap takes how many outages and how long each is in ms, NxD with N from 1 to 100 and D from 10 to 60000 (e.g. flap:5x150)`);
    }
    return { kind: 'flap', count, outageMs };
  }
  return { kind: known.kind } as FaultSpec;
}

/** The fault as `--fault` takes it (and as reports name it). */
export function faultLabel(f: FaultSpec): string {
  if (f.kind === 'icmp-loss') return `${f.kind}:${f.percent}`;
  if (f.kind === 'flap') return `${f.kind}:${f.count}x${f.outageMs}`;
  return f.kind;
}

/** The script's parameter for the fault ("-": none). */
export function faultParam(f: FaultSpec): string {
  return faultLabel(f).split(':')[1] ?? '-';
}

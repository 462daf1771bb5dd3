import { aliasAddresses, labDown, labStatus, labUp, readState } from '../lab/hosts/index.js';
import { labStateDir, type LabHostFlags } from './common.js';

export async function runLabUp(flags: LabHostFlags & { hosts: string; controller?: boolean; addressesPerHost?: string }, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<void> {
  const stateDir = labStateDir(flags, env);
  const hosts = Number(flags.hosts);
  const aliasesPerHost = Number(flags.addressesPerHost ?? 0);
  const state = await labUp({ stateDir, labId: flags.labId, hosts, aliasesPerHost, controller: flags.controller ?? false, progress: out });
  out(`state: ${stateDir}`);
  out(`ssh: ssh -i ${state.harnessKey} -o UserKnownHostsFile=${state.knownHosts} root@${state.hosts[0]?.hostIp}`);
}

export async function runLabDown(flags: LabHostFlags, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<void> {
  const stateDir = labStateDir(flags, env);
  const { removed } = await labDown({ stateDir, progress: out });
  out(removed.length ? `lab down: removed ${removed.join(', ')}` : `no lab at ${stateDir}: nothing to remove`);
}

export async function runLabStatus(flags: LabHostFlags & { json?: boolean }, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<number> {
  const stateDir = labStateDir(flags, env);
  const { state, hosts } = await labStatus({ stateDir });
  if (flags.json) {
    out(JSON.stringify({ stateDir, labId: state?.labId ?? null, phase: state?.phase ?? null, hosts }, null, 2));
  } else if (!state) {
    out(`no lab at ${stateDir} (doctor lab up creates one)`);
  } else {
    out(`lab "${state.labId}" (${state.phase}) at ${stateDir}`);
    for (const h of hosts) {
      const flags = [h.namespacePresent ? 'namespace' : 'NO NAMESPACE', h.linkUp ? 'link up' : 'LINK DOWN', h.sshdRunning ? 'sshd' : 'NO SSHD', h.sshReachable ? 'ssh ok' : 'SSH UNREACHABLE'];
      out(`  ${h.name.padEnd(12)} ${h.ip.padEnd(15)} ${flags.join(', ')}`);
      const aliases = state.hosts.find((x) => x.name === h.name)?.aliases;
      if (aliases) {
        const all = aliasAddresses(aliases);
        out(`  ${''.padEnd(12)} also ${all.length} address(es): ${all[0]} … ${all.at(-1)}`);
      }
    }
  }
  const healthy = Boolean(state) && hosts.every((h) => h.namespacePresent && h.linkUp && h.sshdRunning && h.sshReachable);
  return healthy ? 0 : 1;
}

/** Hosts of an existing lab, for the simulated cloud to serve. */
export function labHostsFor(flags: LabHostFlags, env: NodeJS.ProcessEnv): Array<{ name: string; ip: string }> | undefined {
  const state = readState(labStateDir(flags, env));
  return state?.hosts.map((h) => ({ name: h.name, ip: h.hostIp }));
}

import { ConfigError } from '../shared/index.js';
import { isLabAddress, labRouteGuard, readState } from '../lab/hosts/index.js';
import { faultLabel, fetchFaultLog, injectFault, parseFault, validateDuration, type SshAuth } from '../orchestrator/index.js';
import { labStateDir, parseHostFlags } from './common.js';

export interface InjectFlags {
  host: string;
  fault: string;
  duration: string;
  user: string;
  port: string;
  key?: string;
  knownHosts?: string;
  insecureSkipHostKeyCheck?: boolean;
  wait: boolean;
  labId: string;
  stateDir?: string;
}

/** `doctor inject`: take a compute host's link down over SSH for a while. */
export async function runInject(flags: InjectFlags, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<void> {
  const [host] = parseHostFlags([flags.host]);
  const fault = parseFault(flags.fault);
  const durationS = validateDuration(Number(flags.duration));
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError('--port', `"${flags.port}" is not a TCP port`);
  let key = flags.key ?? env['SSH_KEY'];
  let knownHosts = flags.knownHosts;
  let remoteDir: string | undefined;
  if (fault.kind === 'power-off' && !isLabAddress(host!.ip)) {
    throw new ConfigError('--fault', `doctor inject powers off lab hosts only; ${host!.ip} is not a lab address: a real host is powered off by doctor run through a power driver (--power-off-command, --power-on-command)`);
  }
  if (isLabAddress(host!.ip)) {
    const state = readState(labStateDir(flags, env));
    if (!state) throw new ConfigError('--host', `${host!.ip} is a lab address but no lab "${flags.labId}" is up; run doctor lab up first`);
    await labRouteGuard(state)(host!.ip);
    key ??= state.harnessKey;
    knownHosts ??= state.knownHosts;
    // Lab hosts share this machine's files: keep the fault's files where lab down removes them.
    remoteDir = state.hosts.find((h) => h.hostIp === host!.ip)?.dir;
  }
  if (!key) throw new ConfigError('--key', 'give the SSH private key (--key or SSH_KEY)');
  const auth: SshAuth = { privateKeyPath: key, ...(knownHosts ? { knownHostsPath: knownHosts } : {}), insecureSkipHostKeyCheck: Boolean(flags.insecureSkipHostKeyCheck) };
  if (!knownHosts && !flags.insecureSkipHostKeyCheck) throw new ConfigError('--known-hosts', 'give a known_hosts file to verify the host key, or pass --insecure-skip-host-key-check');
  const target = { host: host!.ip, port, username: flags.user };
  const injected = await injectFault({ target, computeIp: host!.ip, fault, durationS, ...(remoteDir ? { remoteDir } : {}) }, auth);
  out(`${host!.name} (${host!.ip}): ${faultLabel(fault)} for ${durationS} s (script ${injected.scriptPath}, log ${injected.logPath})`);
  if (!flags.wait) return;
  const log = await fetchFaultLog(injected, target, auth, Date.now() + (durationS + 60) * 1000);
  if (log.error) throw new ConfigError('--host', `the fault script failed on ${host!.name}: ${log.error}`);
  const dropped = log.dropped !== undefined ? `, ${log.dropped} packet(s) dropped` : '';
  out(`  ${faultLabel(fault)} on ${log.dev} from ${new Date(log.downAt!).toISOString()} to ${new Date(log.upAt!).toISOString()} (${((log.upAt! - log.downAt!) / 1000).toFixed(3)} s${dropped})`);
}

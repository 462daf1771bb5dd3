/**
 * The orchestrator: configuration, provisioning, the run and cleanup (issue 4),
 * and fault injection over SSH (link down on a compute host).
 */
export {
  injectLinkDown, fetchFaultLog, parseFaultLog, validateDuration, LINK_DOWN_SCRIPT, DEFAULT_FAULT_SECONDS, MIN_FAULT_SECONDS,
  type LinkDownRequest, type InjectedFault, type FaultLog,
} from './fault/inject.js';
export { SshSession, HostKeyError, type SshAuth, type SshTarget, type ExecResult } from './fault/ssh.js';
export { verifyHostKey, parseKnownHosts, hostToken, type HostKeyVerdict } from './fault/known-hosts.js';

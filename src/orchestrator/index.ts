/**
 * The orchestrator: configuration, provisioning, the fault-management run and
 * its cleanup (with a ledger for doctor cleanup), and fault injection over SSH.
 */
export { loadConfig, redactedConfig, type RunConfig, type ConfigSources } from './config.js';
export { SETTINGS, flagOf, flagProperty, runOptions, settingsTable, type Setting, type SettingKey } from './settings/index.js';
export { runFaultManagement, type RunResults, type RunDeps, type Verdict, type VmResult } from './run.js';
export { cloudEntries, Ledger, type LedgerEntry } from './ledger.js';
export { removeResources } from './teardown.js';
export {
  injectFault, planFault, fetchFaultLog, parseFaultLog, validateDuration, FAULT_SCRIPT, DEFAULT_FAULT_SECONDS, MIN_FAULT_SECONDS,
  type FaultRequest, type FaultPlan, type InjectedFault, type FaultLog,
} from './fault/inject.js';
export { FAULTS, faultLabel, parseFault, type FaultKind, type FaultSpec } from './fault/kinds.js';
export { powerCommand, runPower, startPowerOnTimer, stopPowerOnTimer, type PowerCall, type PowerDriver } from './fault/power.js';
export { SshSession, HostKeyError, openClient, type SshAuth, type SshTarget, type ExecResult } from './fault/ssh.js';
export { verifyHostKey, parseKnownHosts, hostToken, type HostKeyVerdict } from './fault/known-hosts.js';
export { openEnvironment, type ComputeAccess, type Environment, type EnvironmentContext } from './environment.js';
export { DEFAULT_EDGES, sshFaults, type FaultInjector, type RunEdges } from './edges.js';
export { TeardownList } from './phases.js';
export { cloudFromLogs, type CloudFromLogs } from './cloud-logs.js';
export { adapterFor, APEX_CONTAINER_LAYOUT, APEX_LAYOUT, INSTALLERS, MCP_LAYOUT, PILLAR_ADDRESSES, SERVER_LIST, type AdapterDeps, type InstallerAdapter, type InstallerConfig, type NodeAddress } from './installers/index.js';
export { ReverseTunnel, type TunnelOptions } from './tunnel.js';
export * from './controller/index.js';

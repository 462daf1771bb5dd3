/** What a run gives back (results.json), and what it is given besides its configuration. */
import type { CloudProfile, PushOutcome, Profile } from '../profiler/index.js';
import type { LabCloud } from '../lab/index.js';
import type { HostHandling } from '../inspector/index.js';
import type { RunEdges } from './edges.js';
import type { FaultLog } from './fault/inject.js';
import type { PowerCall } from './fault/power.js';

export type Verdict = 'PASS' | 'FAIL' | 'ERROR' | 'INTERRUPTED';

export interface VmResult {
  vmId: string;
  name: string;
  alarmId: string;
  notifiedAt?: number;
  /** consumer arrival − monitor detection (ms, one clock) */
  notificationMs?: number;
  duplicates: number;
}

export interface RunResults {
  runId: string;
  testCase: string;
  verdict: Verdict;
  reason?: string;
  thresholdMs: number;
  startedAt: string;
  finishedAt?: string;
  wallMs?: number;
  config: Record<string, unknown>;
  cloud?: { mode: string; computeMicroversion?: string; labId?: string };
  /** Where the run happened: the environment, and the controllers it names. */
  environment?: {
    name: string;
    controllers: Array<{ name: string; ip: string }>;
    tunnels?: Array<{ node: string; remote: string; reconnects: number }>;
    /** Per controller: the files the set-up changed (and what it added), the services it restarted, the files put back; how long each took. */
    controllerSetup?: Array<{ node: string; changed: Array<{ path: string; what: string }>; restarted: string[]; restored: string[]; setupMs?: number; restoreMs?: number }>;
  };
  /** The run's ICMP monitor: its profile and the socket it probed through (batch: ours; raw-socket: the fallback). */
  monitor?: { profile: string; transport: string };
  /** The failed host, and the fault it was given (as --fault names it). */
  host?: { name: string; ip: string; fault?: string };
  detection?: { linkDownAt?: number; detectedAt: number; detectionMs?: number; report?: { ok: boolean; attempts: number; status?: number; error?: string } };
  notifications?: { expected: number; received: number; firstMs?: number; lastMs?: number; perVm: VmResult[] };
  inspector?: HostHandling;
  /** `--inspector-command`: the user's own inspector the run started instead (its checkpoints 2–4 are its own). */
  inspectorCommand?: { command: string; url: string; pid: number; exit?: { code: number | null; signal: string | null } };
  verification?: { hostStatus: Record<string, string | undefined>; vmStatus: Record<string, string> };
  /** What the fault script logged; `restoredAt` (harness clock): when the lab put the host back, before the script's timer. */
  /** clock `harness`: the instants are this machine's (a power driver's), not the host's; downUncertaintyMs: ± of downAt; power: the driver's calls. */
  faultLog?: Omit<FaultLog, 'raw'> & { restoredAt?: number; clock?: 'harness'; downUncertaintyMs?: number; power?: PowerCall[] };
  /** The eleven checkpoints of every affected VM, and where the time went. */
  profile?: Profile;
  /**
   * Doctor's message-bus shortcut, when used: where it published and where the URL came from; how many
   * alarms Aodh POSTed more than once (both the shortcut's and Nova's own notification match an alarm).
   */
  shortcut?: { transportUrl: string; from: string; broker: string; exchange: string; routingKey: string; published?: number; failed?: number; duplicatedAlarms?: number; duplicatePosts?: number };
  /** The cloud services' own profiles of the fault window (--profile-cloud), per controller. */
  cloudProfile?: CloudProfile[];
  /**
   * The OSProfiler trace the run's OpenStack requests carried (when a key was set): every one but the
   * built-in inspector's resets beyond `--trace-resets`; resetsTraced: how many of its resets did.
   */
  osprofiler?: { traceId: string; spans?: number; resetsTraced?: number; error?: string };
  /** What filing the result in the TestAPI (TEST_DB_URL) gave. */
  testDb?: PushOutcome;
  cleanup: { ok: boolean; errors: string[] };
}

export interface RunDeps {
  signal: AbortSignal;
  progress: (line: string) => void;
  /** Where ledgers live (for doctor cleanup). */
  ledgerDir: string;
  /** A transient status (a live line on a TTY), e.g. alarms received so far. */
  status?: (text: string) => void;
  /** Sees the embedded cloud once it runs (tests inspect its state after the run). */
  onLabCloud?: (cloud: LabCloud) => void;
  /** Replaces I/O edges of the run (tests: a fake network and fault injector, no root). */
  edges?: Partial<RunEdges>;
}

import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeDir, processStart } from '../shared/index.js';

/** A resource the run created and must remove. Written before cleanup could need it. */
export type LedgerEntry =
  | { kind: 'lab'; stateDir: string }
  | { kind: 'project' | 'user' | 'image' | 'flavor' | 'server' | 'alarm' | 'network' | 'subnet'; id: string; name?: string }
  | { kind: 'grant'; projectId: string; userId: string; roleId: string }
  | { kind: 'forced-down'; host: string }
  | { kind: 'cloud'; authUrl: string; embedded: boolean; cloudName?: string }
  | { kind: 'run'; pid: number; startedAt: string; processStart?: string }
  /** A process the run started and stops at teardown (the embedded lab's cloud); doctor cleanup stops it if it is still that process. */
  /** `group`: the PID leads a process group of its own, stopped as one. */
  | { kind: 'process'; what: string; pid: number; processStart?: string; group?: boolean }
  /** The run is over but its cleanup was not complete: what is left is doctor cleanup's, whether or not its process lives on. */
  | { kind: 'ended'; at: string }
  /** A fault was started on a host: doctor cleanup puts a lab host's link back at once (a real host's comes back by its own timer, `until`). */
  | { kind: 'fault'; host: string; ip: string; scriptPath: string; logPath: string; until: string; labStateDir?: string }
  /** A host the power driver powered off: doctor cleanup stops the timer (if it is still that process) and runs the on command. */
  | { kind: 'power-off'; host: string; ip: string; on: string; timerPid?: number; timerStart?: string }
  /** A private folder of this machine holding what an installer adapter fetched (the nodes' key): removed with the run. */
  | { kind: 'private-dir'; path: string }
  /** A controller file the run changed: its backup on the node, how to reach it (key paths, never keys) and what to restart. */
  | {
    kind: 'controller-file'; host: string; ip: string; username: string; keyPath: string; knownHostsPath?: string; insecureSkipHostKeyCheck?: boolean;
    path: string; backup: string; service: string; restart: string;
  };

/** The entries that name something in the cloud (what removeResources takes). */
export function cloudEntries(entries: LedgerEntry[]): LedgerEntry[] {
  return entries.filter((e) => ['project', 'user', 'image', 'flavor', 'server', 'alarm', 'network', 'subnet', 'grant', 'forced-down'].includes(e.kind));
}

/**
 * An append-only JSON-lines file per run. A run that finishes its cleanup
 * deletes its ledger; what is left belongs to runs that died, for `doctor cleanup`.
 */
export class Ledger {
  readonly path: string;
  private entries: LedgerEntry[] = [];

  /** Opens the run's ledger; `owner` (the running process) is written first unless the ledger is only being closed. */
  constructor(dir: string, readonly runId: string, opts: { owner?: boolean } = {}) {
    makeDir(dir, 'the ledger folder (XDG_STATE_HOME or HOME)', 0o700);
    this.path = join(dir, `${runId}.jsonl`);
    if (opts.owner ?? true) {
      const start = processStart(process.pid);
      this.add({ kind: 'run', pid: process.pid, startedAt: new Date().toISOString(), ...(start ? { processStart: start } : {}) });
    }
  }

  add(entry: LedgerEntry): void {
    this.entries.push(entry);
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  list(): LedgerEntry[] {
    return [...this.entries];
  }

  /** Cleanup is complete: nothing left to remember. */
  close(): void {
    rmSync(this.path, { force: true });
  }

  /** The process that writes this ledger, when it still runs (same PID and the same start time). */
  static liveOwner(entries: LedgerEntry[]): { pid: number; startedAt: string } | undefined {
    const owner = entries.find((e) => e.kind === 'run');
    if (!owner || entries.some((e) => e.kind === 'ended')) return undefined;
    const start = processStart(owner.pid);
    return start !== undefined && (owner.processStart === undefined || owner.processStart === start) ? { pid: owner.pid, startedAt: owner.startedAt } : undefined;
  }

  static readAll(dir: string): Array<{ runId: string; path: string; entries: LedgerEntry[] }> {
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => {
        const path = join(dir, f);
        const entries = readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .flatMap((l) => {
            try {
              return [JSON.parse(l) as LedgerEntry];
            } catch {
              return []; // a line cut by a crash
            }
          });
        return { runId: f.replace(/\.jsonl$/, ''), path, entries };
      });
  }
}

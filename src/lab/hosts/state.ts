import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError } from '../../shared/index.js';
import type { HostAddressing } from './addressing.js';

/** One host as the state file records it: written before anything is created, so `down` can undo a crash. */
export interface LabHostState extends HostAddressing {
  dir: string;
  sshdPid?: number;
  /** "ssh-ed25519 AAAA…" once generated. */
  hostKey?: string;
  /**
   * Extra addresses the host answers on (the monitor at scale: one namespace stands for many
   * hosts): whole /24 slots of the lab range routed to it, the first `count` of their .1-.254.
   */
  aliases?: { slots: number[]; count: number };
}

export interface LabState {
  version: 1;
  labId: string;
  slot: number;
  stateDir: string;
  createdAt: string;
  phase: 'creating' | 'up';
  harnessKey: string;
  knownHosts: string;
  hosts: LabHostState[];
  /** The controller host, when the lab was asked for one (its sshd allows reverse tunnels). */
  controller?: LabHostState;
}

export const STATE_FILE = 'lab.json';

export function statePath(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

export function readState(stateDir: string): LabState | undefined {
  const path = statePath(stateDir);
  if (!existsSync(path)) return undefined;
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as LabState;
    if (s.version !== 1 || !Array.isArray(s.hosts)) throw new Error('unknown format');
    return s;
  } catch (err) {
    throw new HarnessError(`the lab state file ${path} is unreadable (${(err as Error).message}); remove the lab by hand or delete the file`, { cause: err });
  }
}

/** Atomic: a crash leaves the old or the new file, never half of one. */
export function writeState(state: LabState): void {
  mkdirSync(state.stateDir, { recursive: true, mode: 0o700 });
  const path = statePath(state.stateDir);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * One `up`/`down` at a time per lab. The lock holds the owner's PID; a lock
 * whose owner is gone (killed halfway) is taken over.
 */
export function acquireLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (owner && owner !== process.pid && pidAlive(owner)) {
        throw new HarnessError(`another doctor lab command (PID ${owner}) is working on ${stateDir}; wait for it or stop it`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new HarnessError(`could not lock ${stateDir}`);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Slot claims, so two labs coming up at the same moment never take the same /24. */
export const SLOT_DIR = '/run/doctor-harness/lab-slots';

/** Claims `slot` for `stateDir`; false when another live lab holds it. A claim whose lab is gone is taken over. */
export function claimSlot(slot: number, stateDir: string): boolean {
  mkdirSync(SLOT_DIR, { recursive: true, mode: 0o700 });
  const path = join(SLOT_DIR, String(slot));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, stateDir);
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = readFileSync(path, 'utf8');
      if (owner === stateDir) return true;
      if (existsSync(statePath(owner))) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

export function releaseSlot(slot: number, stateDir: string): void {
  const path = join(SLOT_DIR, String(slot));
  try {
    if (readFileSync(path, 'utf8') === stateDir) rmSync(path, { force: true });
    rmdirSync(SLOT_DIR);
    rmdirSync('/run/doctor-harness');
  } catch {
    /* not ours, already gone, or other labs still hold slots */
  }
}

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** A resource the run created and must remove. Written before cleanup could need it. */
export type LedgerEntry =
  | { kind: 'lab'; stateDir: string }
  | { kind: 'project' | 'user' | 'image' | 'flavor' | 'server' | 'alarm' | 'network' | 'subnet'; id: string; name?: string }
  | { kind: 'grant'; projectId: string; userId: string; roleId: string }
  | { kind: 'forced-down'; host: string }
  | { kind: 'cloud'; authUrl: string; embedded: boolean };

/**
 * An append-only JSON-lines file per run. A run that finishes its cleanup
 * deletes its ledger; what is left belongs to runs that died, for `doctor cleanup`.
 */
export class Ledger {
  readonly path: string;
  private entries: LedgerEntry[] = [];

  constructor(dir: string, readonly runId: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, `${runId}.jsonl`);
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

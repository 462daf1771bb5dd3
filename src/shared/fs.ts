import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors.js';

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENAMETOOLONG: 'the path is too long',
  ENOENT: 'a part of the path cannot be created',
};

/**
 * Creates `dir` and its missing parents, one level at a time (Node's recursive mkdir can spin
 * forever under /proc), or throws a ConfigError naming the setting, the folder, why, and what to do.
 */
export function makeDir(dir: string, setting: string, mode = 0o755): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let d = target; ; d = dirname(d)) {
    let isDir: boolean | undefined;
    try {
      isDir = statSync(d).isDirectory();
    } catch {
      isDir = undefined;
    }
    if (isDir === true) break;
    if (isDir === false) throw refusal(setting, target, d, 'ENOTDIR');
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST') continue;
      throw refusal(setting, target, d, code, err);
    }
  }
}

function refusal(setting: string, target: string, at: string, code: string, cause?: unknown): ConfigError {
  const why = WHY[code] ?? code;
  const where = at === target ? '' : ` (at ${at})`;
  return new ConfigError(setting, `cannot create the folder ${target}${where}: ${why}; choose a folder you can write, or fix its permissions`, cause ? { cause } : undefined);
}

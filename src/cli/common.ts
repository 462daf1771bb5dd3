/** What several commands share, light to load (a command's own modules load only when it runs). */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../shared/index.js';

/** What `doctor report --format` renders. */
export const REPORT_FORMATS = ['text', 'junit', 'json', 'html'] as const;

/** A file's text, or undefined when it cannot be read (how credentials look for clouds.yaml). */
export const readText = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** Resolves on the first Ctrl-C or SIGTERM (and stops listening for them). */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export interface LabHostFlags {
  labId: string;
  stateDir?: string;
}

/** The harness's state folder: $XDG_STATE_HOME/doctor-harness (default ~/.local/state/doctor-harness). */
export function stateHome(env: NodeJS.ProcessEnv): string {
  return join(env['XDG_STATE_HOME'] ?? join(env['HOME'] ?? homedir(), '.local', 'state'), 'doctor-harness');
}

/** Where a lab's state lives unless --state-dir says otherwise. */
export function labStateDir(flags: LabHostFlags, env: NodeJS.ProcessEnv): string {
  return flags.stateDir ? resolve(flags.stateDir) : join(stateHome(env), `lab-${flags.labId}`);
}

/** A dotted IPv4 address (the shape; each flag says what it wants). */
export const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** NAME=IPv4 flag values (--host, --self-check), naming the flag on a bad one. */
export function parseHostFlags(values: string[], flag = '--host'): Array<{ name: string; ip: string }> {
  if (!values.length) throw new ConfigError(flag, 'give at least one host as NAME=IP (e.g. --host compute-1=198.18.0.2)');
  return values.map((v) => {
    const [name, ip] = v.split('=');
    if (!name || !ip || !IPV4.test(ip)) throw new ConfigError(flag, `"${v}" is not NAME=IPv4`);
    return { name, ip };
  });
}

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv } from '../../shared/index.js';

export const SSHD = '/usr/sbin/sshd';

/**
 * sshd for one lab host: listens on the host's lab address only, key auth only,
 * root allowed (the fault script runs `ip link`), everything in the host's folder;
 * reverse tunnels only on a controller.
 * StrictModes is off because the lab folder may sit under a world-writable /tmp.
 */
export function sshdConfig(dir: string, listen: string, opts: { reverseTunnels?: boolean } = {}): string {
  return [
    `ListenAddress ${listen}:22`,
    `HostKey ${join(dir, 'ssh_host_ed25519_key')}`,
    'PidFile none',
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'X11Forwarding no',
    // A controller lets the harness open reverse tunnels (ssh -R) to its consumer, as Doctor's installers did; a compute forwards nothing.
    opts.reverseTunnels ? 'AllowTcpForwarding remote' : 'AllowTcpForwarding no',
    'PrintMotd no',
    'LogLevel INFO',
    'Subsystem sftp internal-sftp',
    // Commands in the host's own bin/ come first: a fake `date` there skews this host's clock (clock tests).
    `SetEnv PATH=${join(dir, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    '',
  ].join('\n');
}

/** Starts sshd in the namespace, detached so it outlives the CLI; returns its PID. */
export function startSshd(namespace: string, dir: string): number {
  const log = openSync(join(dir, 'sshd.log'), 'a', 0o600);
  try {
    // `ip netns exec` enters the namespace and execs sshd: the PID is sshd's.
    const child = spawn('ip', ['netns', 'exec', namespace, SSHD, '-D', '-e', '-f', join(dir, 'sshd_config')], {
      detached: true,
      stdio: ['ignore', log, log],
      env: childEnv(),
    });
    child.unref();
    if (!child.pid) throw new Error(`could not start sshd in ${namespace}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** True when `pid` is the sshd we started with this folder's config (a reused PID is not ours). */
export function isOurSshd(pid: number | undefined, dir: string): boolean {
  if (!pid) return false;
  try {
    // sshd rewrites its process title into one string, so match text, not argv items.
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmd.includes(`-f ${join(dir, 'sshd_config')} `) || cmd.endsWith(`-f ${join(dir, 'sshd_config')}`);
  } catch {
    return false;
  }
}


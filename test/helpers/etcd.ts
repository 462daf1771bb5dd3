import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/shared/index.js';

/** Debian's etcd-server (scripts/setup installs it). */
export const ETCD = '/usr/bin/etcd';
export const hasEtcd = existsSync(ETCD);

export interface TestEtcd {
  /** etcd://127.0.0.1:PORT, as agents take it. */
  url: string;
  /** Stops the server (SIGTERM by PID, then SIGKILL); its data stays for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  remove(): Promise<void>;
}

/** A one-member etcd on loopback with its own data folder, for one test file. */
export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'doctor-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  let child: ChildProcess | undefined;
  const args = [
    '--name', 'test', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `test=http://127.0.0.1:${peer}`, '--logger', 'zap', '--log-level', 'error',
  ];
  const start = async () => {
    let output = '';
    const c = spawn(ETCD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4_000)));
    c.on('error', (err) => (output += `\n${err.message}`));
    child = c;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${client}/health`, { signal: AbortSignal.timeout(1_000) })
        .then(async (r) => ((await r.json()) as { health?: string }).health === 'true')
        .catch(() => false);
      if (ok) return;
      if (c.exitCode !== null || Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`etcd did not become healthy on 127.0.0.1:${client}: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(t);
  };
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `etcd://127.0.0.1:${client}`,
    stop,
    start,
    remove: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

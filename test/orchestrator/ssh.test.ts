/** SSH sessions never end the process: every error of the client, its channels and SFTP is handled. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultInjectionError } from '../../src/shared/index.js';
import { SshSession } from '../../src/orchestrator/index.js';
import { eventually } from '../helpers/lab.js';

describe('an SSH connection that goes wrong', () => {
  let dir: string;
  let server: Server;
  let port: number;
  const sockets: Socket[] = [];
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => void uncaught.push(err);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'doctor-ssh-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
    // A peer that accepts the TCP connection and never says a word, like a host whose link went down mid-handshake.
    server = createServer((s) => {
      s.on('error', () => {});
      sockets.push(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    process.on('uncaughtException', onUncaught);
  });
  afterAll(() => {
    process.off('uncaughtException', onUncaught);
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a handshake timeout, then the peer closing the connection: one rejection, no crash', async () => {
    const auth = { privateKeyPath: join(dir, 'key'), insecureSkipHostKeyCheck: true, connectTimeoutMs: 300 };
    const err = await SshSession.connect({ host: '127.0.0.1', port }, auth).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FaultInjectionError);
    expect((err as Error).message).toMatch(/^SSH to root@127\.0\.0\.1:\d+ failed: Timed out while waiting for handshake/);
    // ssh2 emits a second error ("Connection lost before handshake") when the socket closes afterwards.
    const attempt = SshSession.connect({ host: '127.0.0.1', port }, { ...auth, connectTimeoutMs: 5_000 }).then(() => new Error('connected'), (e: unknown) => e as Error);
    await eventually(() => (sockets.length >= 2 ? true : undefined), 5_000, 'the second connection');
    for (const s of sockets) s.destroy();
    expect((await attempt).message).toMatch(/failed: Connection lost before handshake/);
    // Give any late 'error' event the chance to surface.
    await new Promise((r) => setTimeout(r, 300));
    expect(uncaught.map((e) => e.message)).toEqual([]);
  });
});

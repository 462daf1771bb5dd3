import { readFileSync } from 'node:fs';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { FaultInjectionError, type Logger, silentLogger } from '../../shared/index.js';
import { hostToken, keyTypeOf, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';

export interface SshTarget {
  host: string;
  port?: number;
  username?: string;
}

export interface SshAuth {
  /** Path of the private key (never its contents on a command line). */
  privateKeyPath: string;
  /** known_hosts to verify the host key against. */
  knownHostsPath?: string;
  /** Explicit opt-out of host key verification. Off unless the user asks. */
  insecureSkipHostKeyCheck?: boolean;
  connectTimeoutMs?: number;
  logger?: Logger;
}

export class HostKeyError extends FaultInjectionError {
  override name = 'HostKeyError';
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * One SSH connection with host key verification; exec and SFTP helpers.
 * The client, every channel and every SFTP session have an error listener for
 * their whole life: ssh2 may emit a second error after the first (a handshake
 * timeout, then "Connection lost before handshake"), and an error nobody listens
 * to would end the process in the middle of a fault. After the connection is up,
 * an error or a close fails the calls in flight instead.
 */
export class SshSession {
  private readonly inFlight = new Set<(err: Error) => void>();
  private lost: Error | undefined;

  private constructor(
    private readonly client: Client,
    readonly target: Required<SshTarget>,
    private readonly log: Logger,
  ) {
    const fail = (err: Error) => {
      this.lost ??= err;
      for (const reject of [...this.inFlight]) reject(err);
      this.inFlight.clear();
    };
    client.on('error', (err: Error) => {
      log.warn({ host: target.host, err: err.message }, 'SSH connection failed');
      fail(new FaultInjectionError(`SSH to ${target.host} failed: ${err.message}`, { cause: err }));
    });
    client.on('close', () => fail(new FaultInjectionError(`the SSH connection to ${target.host} closed`)));
  }

  static async connect(target: SshTarget, auth: SshAuth): Promise<SshSession> {
    const { client, target: t, log } = await openClient(target, auth);
    return new SshSession(client, t, log);
  }

  /** Runs `start(resolve, reject)`; the call fails at once if the connection is (or becomes) lost. */
  private call<T>(start: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise<T>((resolve, reject) => {
      const abort = (err: Error) => reject(err);
      this.inFlight.add(abort);
      start(
        (v) => {
          this.inFlight.delete(abort);
          resolve(v);
        },
        (e) => {
          this.inFlight.delete(abort);
          reject(e);
        },
      );
    });
  }

  exec(command: string, timeoutMs = 30_000): Promise<ExecResult> {
    return this.call((resolve, reject) => {
      const timer = setTimeout(() => reject(new FaultInjectionError(`"${command}" on ${this.target.host} did not finish within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(new FaultInjectionError(`running a command on ${this.target.host} failed: ${err.message}`, { cause: err }));
      };
      this.client.exec(command, (err, stream) => {
        if (err) return fail(err);
        let stdout = '';
        let stderr = '';
        stream.on('error', fail);
        stream.stderr.on('error', fail);
        stream.on('data', (d: Buffer) => (stdout += d));
        stream.stderr.on('data', (d: Buffer) => (stderr += d));
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ stdout, stderr, code });
        });
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    return this.call((resolve, reject) => this.client.sftp((err, sftp) => {
      if (err) return reject(new FaultInjectionError(`SFTP to ${this.target.host} failed: ${err.message}`, { cause: err }));
      sftp.on('error', (e: Error) => this.log.debug({ host: this.target.host, err: e.message }, 'SFTP session error'));
      resolve(sftp);
    }));
  }

  async writeFile(path: string, data: string, mode: number): Promise<void> {
    const sftp = await this.sftp();
    try {
      await this.call<void>((resolve, reject) => sftp.writeFile(path, data, { mode }, (err) => (err ? reject(new FaultInjectionError(`cannot upload ${path} to ${this.target.host}: ${err.message}`, { cause: err })) : resolve())));
    } finally {
      sftp.end();
    }
  }

  async readFile(path: string): Promise<string> {
    const sftp = await this.sftp();
    try {
      return await this.call<string>((resolve, reject) => sftp.readFile(path, (err, data) => (err ? reject(new FaultInjectionError(`cannot read ${path} on ${this.target.host}: ${err.message}`, { cause: err })) : resolve(data.toString('utf8')))));
    } finally {
      sftp.end();
    }
  }

  /**
   * A long-running command on the host, driven line by line: `ask` writes one
   * line to its stdin and resolves with the next line it prints. One process for
   * many exchanges, so each costs a round trip, not a shell start.
   */
  interact(command: string): Promise<{ ask(line: string, timeoutMs?: number): Promise<string>; close(): void }> {
    return this.call((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) {
          reject(new FaultInjectionError(`cannot run a command on ${this.target.host}: ${err.message}`, { cause: err }));
          return;
        }
        stream.on('error', (e: Error) => this.log.debug({ host: this.target.host, err: e.message }, 'SSH channel error'));
        stream.stderr.on('error', () => {});
        let buffered = '';
        const waiting: Array<(line: string) => void> = [];
        const lines: string[] = [];
        stream.on('data', (d: Buffer) => {
          buffered += d.toString();
          for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
            const line = buffered.slice(0, i);
            buffered = buffered.slice(i + 1);
            const next = waiting.shift();
            if (next) next(line);
            else lines.push(line);
          }
        });
        stream.stderr.on('data', () => {});
        resolve({
          ask: (line, timeoutMs = 10_000) => this.call<string>((res, rej) => {
            const timer = setTimeout(() => rej(new FaultInjectionError(`"${command}" on ${this.target.host} did not answer within ${timeoutMs} ms`)), timeoutMs);
            const done = (l: string) => {
              clearTimeout(timer);
              res(l);
            };
            const ready = lines.shift();
            if (ready !== undefined) done(ready);
            else waiting.push(done);
            stream.write(`${line}\n`);
          }),
          close: () => stream.end(),
        });
      });
    });
  }

  close(): void {
    this.lost ??= new FaultInjectionError(`the SSH connection to ${this.target.host} was closed`);
    this.client.end();
  }
}

function hostKeyError(v: HostKeyVerdict, host: string, port: number, knownHosts: string): HostKeyError {
  const token = hostToken(host, port);
  if (v.result === 'mismatch') {
    return new HostKeyError(
      `the SSH host key of ${token} does not match ${knownHosts}: the host was reinstalled, its key was changed, or someone is in the middle. ` +
        `Refusing to connect. If the change is expected, remove the old key with: ssh-keygen -R '${token}' -f ${knownHosts}` +
        ' (for the embedded lab, doctor lab up rewrites it)',
    );
  }
  if (v.result === 'revoked') return new HostKeyError(`the SSH host key of ${token} is marked @revoked in ${knownHosts}; refusing to connect`);
  return new HostKeyError(
    `${token} is not in ${knownHosts}; add its key (check it out of band, e.g. ssh-keyscan ${host} >> ${knownHosts}) or opt out of host key checking explicitly`,
  );
}

/**
 * An ssh2 client connected with the host key verified (unless the user opted out); its error listener
 * stays for the client's life (whatever it emits later is only logged). SshSession and the reverse
 * tunnels are built on it.
 */
export async function openClient(target: SshTarget, auth: SshAuth & { keepaliveMs?: number }): Promise<{ client: Client; target: Required<SshTarget>; log: Logger }> {
  const t = { host: target.host, port: target.port ?? 22, username: target.username ?? 'root' };
  const log = (auth.logger ?? silentLogger()).child({ component: 'ssh' });
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(auth.privateKeyPath);
  } catch (err) {
    throw new FaultInjectionError(`cannot read the SSH key ${auth.privateKeyPath}: ${(err as Error).message}`, { cause: err });
  }
  let knownHosts = '';
  if (!auth.insecureSkipHostKeyCheck) {
    if (!auth.knownHostsPath) throw new HostKeyError(`no known_hosts given for ${t.host}: pass one, or opt out of host key checking explicitly`);
    try {
      knownHosts = readFileSync(auth.knownHostsPath, 'utf8');
    } catch (err) {
      throw new HostKeyError(`cannot read known_hosts ${auth.knownHostsPath}: ${(err as Error).message}`, { cause: err });
    }
  } else {
    log.warn({ host: t.host }, 'SSH host key verification is OFF (explicit opt-out)');
  }
  let verdict: HostKeyVerdict | undefined;
  const client = new Client();
  const config: ConnectConfig = {
    host: t.host,
    port: t.port,
    username: t.username,
    privateKey,
    readyTimeout: auth.connectTimeoutMs ?? 10_000,
    ...(auth.keepaliveMs ? { keepaliveInterval: auth.keepaliveMs, keepaliveCountMax: 3 } : {}),
    hostVerifier: (key: Buffer) => {
      if (auth.insecureSkipHostKeyCheck) return true;
      verdict = verifyHostKey(knownHosts, t.host, t.port, keyTypeOf(key), key.toString('base64'));
      return verdict.result === 'match';
    },
  };
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    // Never removed: whatever the client emits after this promise settles is only logged.
    client.on('error', (err: Error) => {
      if (settled) return void log.debug({ host: t.host, err: err.message }, 'SSH error after the connection attempt ended');
      settled = true;
      client.destroy();
      if (verdict && verdict.result !== 'match') reject(hostKeyError(verdict, t.host, t.port, auth.knownHostsPath!));
      else reject(new FaultInjectionError(`SSH to ${t.username}@${t.host}:${t.port} failed: ${err.message}`, { cause: err }));
    });
    client.once('ready', () => {
      settled = true;
      resolve();
    });
    client.connect(config);
  });
  return { client, target: t, log };
}


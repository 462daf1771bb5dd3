import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { childEnv, HarnessError, processStart, stopProcess } from '../../shared/index.js';
import { loadCredentials, OpenStackClient, type CloudCredentials } from '../../openstack/index.js';
import type { HopLatency, TracePoint } from './cloud.js';
import type { ComputeHostSpec } from './state.js';

export interface CloudProcessOptions {
  hosts: ComputeHostSpec[];
  buildDelayMs: number;
  latency?: Partial<HopLatency>;
  /** Where its clouds.yaml and admin password are written (0600): a private folder of the run. */
  stateDir: string;
  /** Each line the cloud prints (it prints no secret). */
  onLine?: (line: string) => void;
  readyTimeoutMs?: number;
}

/** The simulated cloud in a process of its own: its CPU is not the harness's, and what the harness measures is its own. */
export interface CloudProcess {
  url: string;
  pid: number;
  processStart: string | undefined;
  credentials(): CloudCredentials;
  /** Its trace feed (GET /_lab/trace, admin token). */
  trace(): Promise<TracePoint[]>;
  /** Its next webhook deliveries are dropped (POST /_lab/faults). */
  dropWebhooks(count?: number): Promise<void>;
  /** SIGTERM, SIGKILL after 3 s; resolves once it is gone. */
  stop(): Promise<void>;
}

const BIN = fileURLToPath(new URL('../../../bin/doctor.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

/**
 * Starts `doctor lab cloud` as a child process on a free loopback port and waits until it listens.
 * It stops by itself when this process goes away (its stdin closes), so even a SIGKILL of the
 * harness leaves no cloud behind.
 */
export async function startCloudProcess(opts: CloudProcessOptions): Promise<CloudProcess> {
  if (!existsSync(DIST)) throw new HarnessError(`the simulated cloud runs as \`doctor lab cloud\`, which is not built (${DIST} is missing): run npm run build`);
  const args = [BIN, 'lab', 'cloud', '--port', '0', '--build-delay', String(opts.buildDelayMs), '--state-dir', opts.stateDir, '--until-stdin-closes',
    '--hosts', opts.hosts.map((h) => `${h.name}=${h.ip}`).join(',')];
  const latency = Object.entries(opts.latency ?? {}).filter(([, ms]) => ms !== undefined);
  if (latency.length) args.push('--latency', latency.map(([hop, ms]) => `${hop}=${ms}`).join(','));
  // Only the harmless part of our environment: no OS_PASSWORD, no token, and no DOCTOR_LAB_PASSWORD (its admin password is its own random one).
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('error', () => {
    /* reported through the exit below */
  });
  child.stdin!.on('error', () => {
    /* it went away first: its exit says why */
  });
  const output: string[] = [];
  let onLine = (_l: string): void => {};
  const lines = (stream: NodeJS.ReadableStream) =>
    createInterface({ input: stream }).on('line', (l) => {
      output.push(l);
      if (output.length > 50) output.shift();
      opts.onLine?.(l);
      onLine(l);
    });
  lines(child.stdout!);
  lines(child.stderr!);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timeoutMs = opts.readyTimeoutMs ?? 20_000;
      const timer = setTimeout(() => reject(new HarnessError(`the simulated cloud did not start within ${timeoutMs / 1000} s; it printed: ${output.slice(-5).join(' | ') || '(nothing)'}`)), timeoutMs);
      onLine = (l) => {
        const m = /listening on (https?:\/\/\S+)/.exec(l);
        if (!m) return;
        clearTimeout(timer);
        resolve(m[1]!);
      };
      void gone.then(() => {
        clearTimeout(timer);
        reject(new HarnessError(`the simulated cloud exited at start (status ${child.exitCode ?? child.signalCode}): ${output.slice(-5).join(' | ') || '(no output)'}`));
      });
    });
    const credentials = loadCredentials({ OS_CLIENT_CONFIG_FILE: join(opts.stateDir, 'clouds.yaml'), OS_CLOUD: 'doctor-lab' }, (p) => readFileSync(p, 'utf8'));
    const client = OpenStackClient.create({ credentials });
    return {
      url,
      pid: child.pid!,
      processStart: processStart(child.pid!),
      credentials: () => credentials,
      trace: async () => (await client.session.request<{ trace: TracePoint[] }>({ service: 'lab', absolute: true, method: 'GET', path: `${url}/_lab/trace` })).data.trace,
      dropWebhooks: async (count) => {
        await client.session.request({ service: 'lab', absolute: true, method: 'POST', path: `${url}/_lab/faults`, body: { action: 'drop-webhooks', ...(count !== undefined ? { count } : {}) } });
      },
      stop: async () => {
        client.close();
        await stopProcess(child);
      },
    };
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
}

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../shared/index.js';
import { IPV4 } from './common.js';
import { startCloud, type HopLatency, type ComputeHostSpec } from '../lab/index.js';

export interface LabCloudFlags {
  port: string;
  host: string;
  hosts?: string;
  buildDelay: string;
  latency?: string;
  stateDir?: string;
  computeMax?: string;
  /** Stop when stdin closes: a harness that started this cloud went away (even by SIGKILL). */
  untilStdinCloses?: boolean;
  /** Hosts of a running lab (doctor lab up). */
  hostList?: ComputeHostSpec[];
}

const HOPS: Array<keyof HopLatency> = ['notify', 'transform', 'evaluate', 'fire', 'deliver'];

export function parseHosts(spec: string): ComputeHostSpec[] {
  return spec.split(',').map((part) => {
    const [name, ip] = part.split('=');
    if (!name || !ip || !IPV4.test(ip)) {
      throw new ConfigError('--hosts', `"${part}" is not NAME=IPv4 (e.g. compute-1=198.18.0.2,compute-2=198.18.0.6)`);
    }
    return { name, ip };
  });
}

export function parseLatency(spec: string): Partial<HopLatency> {
  const out: Partial<HopLatency> = {};
  for (const part of spec.split(',')) {
    const [hop, ms] = part.split('=');
    if (!HOPS.includes(hop as keyof HopLatency) || ms === undefined || !/^\d+(\.\d+)?$/.test(ms)) {
      throw new ConfigError('--latency', `"${part}" is not HOP=MS with HOP one of ${HOPS.join(', ')} (e.g. notify=10,deliver=5)`);
    }
    out[hop as keyof HopLatency] = Number(ms);
  }
  return out;
}

function intFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `"${value}" must be a whole number from ${min} to ${max}`);
  return n;
}

/** `doctor lab cloud`: the simulated cloud in the foreground until Ctrl-C. */
export async function runLabCloud(flags: LabCloudFlags, env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<void> {
  const port = intFlag('--port', flags.port, 0, 65535);
  const buildDelayMs = intFlag('--build-delay', flags.buildDelay, 0, 600_000);
  const lab = await startCloud({
    port,
    host: flags.host,
    buildDelayMs,
    ...(flags.hosts ? { hosts: parseHosts(flags.hosts) } : flags.hostList ? { hosts: flags.hostList } : {}),
    ...(flags.latency ? { latency: parseLatency(flags.latency) } : {}),
    ...(flags.computeMax ? { computeVersions: { min: '2.1', max: flags.computeMax } } : {}),
    ...(env['DOCTOR_LAB_PASSWORD'] ? { adminPassword: env['DOCTOR_LAB_PASSWORD'] } : {}),
  });
  const dir = resolve(flags.stateDir ?? join(env['HOME'] ?? homedir(), '.config', 'doctor-harness', 'lab-cloud'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cloudsPath = join(dir, 'clouds.yaml');
  const passwordPath = join(dir, 'admin-password');
  writeSecret(cloudsPath, lab.cloudsYaml('doctor-lab'));
  writeSecret(passwordPath, `${lab.cloud.adminPassword}\n`);

  out(`doctor lab cloud: simulated OpenStack listening on ${lab.url}`);
  out(`  services: ${['identity', 'compute', 'image', 'network', 'alarming'].map((s) => `${lab.url}/${s}`).join(' ')}`);
  out(`  compute hosts: ${[...lab.cloud.state.services.values()].map((s) => `${s.host}=${s.ip}`).join(', ')}`);
  out('');
  out(`clouds.yaml entry "doctor-lab" written to ${cloudsPath} (mode 0600; it holds the admin password):`);
  out(`  export OS_CLIENT_CONFIG_FILE=${cloudsPath} OS_CLOUD=doctor-lab`);
  out('');
  out('or the OS_* variables:');
  for (const line of lab.envLines()) out(`  ${line.replace('OS_PASSWORD=<see clouds.yaml>', `OS_PASSWORD="$(cat ${passwordPath})"`)}`);
  out('');
  out('doctor run against it with --skip-controller-setup (its Ceilometer and Aodh are built in: no controller files to set up)');
  out(`lab switches (admin token): GET ${lab.url}/_lab/trace, POST ${lab.url}/_lab/faults`);
  out('Ctrl-C stops it.');

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (flags.untilStdinCloses) process.stdin.destroy();
      void lab.stop().then(resolveStop);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (flags.untilStdinCloses) {
      process.stdin.on('end', stop);
      process.stdin.on('close', stop);
      process.stdin.on('error', stop);
      process.stdin.resume();
    }
  });
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

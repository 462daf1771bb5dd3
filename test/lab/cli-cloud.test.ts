/**
 * `doctor lab cloud` as a user runs it: a separate process, driven with plain
 * curl (token and password passed through 0600 files, never on the command line).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../helpers/lab.js';
import { recordingServer, type RecordingServer } from '../helpers/http.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('doctor lab cloud driven by curl', () => {
  let proc: ChildProcess | undefined;
  let dir: string;
  let url = '';
  let output = '';
  let hook: RecordingServer;
  let hookUrl = '';
  const received = () => hook.received.map((r) => r.body as Record<string, unknown>);
  let n = 0;

  /** curl with the token (if any) from a header file; the body from a file. */
  async function curl(method: string, path: string, opts: { body?: unknown; headers?: string[]; token?: boolean } = {}): Promise<CurlResult> {
    const args = ['-sS', '-X', method, '-D', '-', '-o', join(dir, 'out'), '-w', '%{http_code}'];
    const headerFile = join(dir, `h${++n}`);
    writeFileSync(headerFile, [...(opts.token === false ? [] : [`X-Auth-Token: ${readFileSync(join(dir, 'token'), 'utf8').trim()}`]), ...(opts.headers ?? [])].join('\n') + '\n', { mode: 0o600 });
    args.push('-H', `@${headerFile}`);
    if (opts.body !== undefined) {
      const bodyFile = join(dir, `b${n}`);
      writeFileSync(bodyFile, JSON.stringify(opts.body), { mode: 0o600 });
      args.push('-H', 'Content-Type: application/json', '--data-binary', `@${bodyFile}`);
    }
    args.push(`${url}${path}`);
    const { stdout } = await run('curl', args);
    const status = Number(stdout.slice(-3));
    const headers: Record<string, string> = {};
    for (const line of stdout.slice(0, -3).split(/\r?\n/)) {
      const m = /^([^:]+):\s*(.*)$/.exec(line);
      if (m) headers[m[1]!.toLowerCase()] = m[2]!;
    }
    const text = readFileSync(join(dir, 'out'), 'utf8');
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status, headers, body };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'doctor-cli-cloud-'));
    hook = await recordingServer();
    hookUrl = `${hook.url}/failure`;
    proc = spawn(process.execPath, [join(ROOT, 'bin/doctor.js'), 'lab', 'cloud', '--port', '0', '--state-dir', join(dir, 'state'), '--build-delay', '50'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (c) => (output += String(c)));
    proc.stderr!.on('data', (c) => (output += String(c)));
    await eventually(() => output.includes('Ctrl-C stops it.') || undefined, 15_000, () => `doctor lab cloud to start; it printed: ${output}`);
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!;
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    await hook?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints how to use it and keeps the password out of its output', () => {
    expect(output).toContain('clouds.yaml entry "doctor-lab" written to');
    expect(output).toMatch(/export OS_AUTH_URL=http:\/\/127\.0\.0\.1:\d+\/identity\/v3/);
    expect(output).toMatch(/export OS_CLIENT_CONFIG_FILE=\S+clouds\.yaml OS_CLOUD=doctor-lab/);
    const password = readFileSync(join(dir, 'state', 'admin-password'), 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(12);
    expect(output).not.toContain(password);
    expect(statSync(join(dir, 'state', 'clouds.yaml')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'state', 'clouds.yaml'), 'utf8')).toContain(`password: ${password}`);
  });

  it('runs the Doctor calls: token, ACTIVE server, event alarm, webhook for that VM only, force-down both ways, host_status DOWN', async () => {
    const password = readFileSync(join(dir, 'state', 'admin-password'), 'utf8').trim();
    const auth = await curl('POST', '/identity/v3/auth/tokens', {
      token: false,
      body: { auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password } } }, scope: { project: { name: 'admin', domain: { name: 'Default' } } } } },
    });
    expect(auth.status).toBe(201);
    writeFileSync(join(dir, 'token'), auth.headers['x-subject-token']!, { mode: 0o600 });
    writeFileSync(join(dir, 'token-header'), `X-Auth-Token: ${auth.headers['x-subject-token']}\n`, { mode: 0o600 });

    const image = await curl('POST', '/image/v2/images', { body: { name: 'cirros', disk_format: 'raw', container_format: 'bare', visibility: 'public' } });
    expect(image.status).toBe(201);
    writeFileSync(join(dir, 'img'), Buffer.alloc(2048));
    const { stdout: up } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', `@${join(dir, 'token-header')}`, '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${join(dir, 'img')}`, `${url}/image/v2/images/${image.body.id}/file`]);
    expect(up).toBe('204');
    const flavor = await curl('POST', '/compute/v2.1/flavors', { body: { flavor: { name: 'm1.tiny', ram: 64, vcpus: 1, disk: 1 } } });
    const vms: string[] = [];
    for (const name of ['doctor_vm0', 'doctor_vm1']) {
      const r = await curl('POST', '/compute/v2.1/servers', { body: { server: { name, imageRef: image.body.id, flavorRef: flavor.body.flavor.id, networks: 'none' } }, headers: ['X-OpenStack-Nova-API-Version: 2.37'] });
      expect(r.status).toBe(202);
      vms.push(r.body.server.id);
    }
    const active = await eventually(async () => {
      const r = await curl('GET', `/compute/v2.1/servers/${vms[0]}`, { headers: ['OpenStack-API-Version: compute 2.16'] });
      return r.body.server.status === 'ACTIVE' ? r.body.server : undefined;
    }, 5000, 'ACTIVE');
    const host = active['OS-EXT-SRV-ATTR:host'];
    expect(active.host_status).toBe('UP');

    for (const [i, vm] of vms.entries()) {
      const alarm = await curl('POST', '/alarming/v2/alarms', {
        body: {
          name: `doctor_alarm${i}`, description: 'VM failure', enabled: true, alarm_actions: [hookUrl], repeat_actions: false, severity: 'moderate', type: 'event',
          event_rule: { event_type: 'compute.instance.update', query: [{ field: 'traits.instance_id', type: '', op: 'eq', value: vm }, { field: 'traits.state', type: '', op: 'eq', value: 'error' }] },
        },
      });
      expect(alarm.status).toBe(201);
    }
    const reset = await curl('POST', `/compute/v2.1/servers/${vms[0]}/action`, { body: { 'os-resetState': { state: 'error' } } });
    expect(reset.status).toBe(202);
    await eventually(() => received()[0], 5000, 'the Aodh webhook');
    const trace = async () => (await curl('GET', '/_lab/trace')).body.trace as Array<{ hop: string; instanceId?: string }>;
    await eventually(async () => ((await trace()).some((p) => p.hop === 'webhook_delivered') ? true : undefined), 5000, 'delivery trace');
    expect(received()).toHaveLength(1);
    expect(received()[0]).toMatchObject({ alarm_name: 'doctor_alarm0', previous: 'insufficient data', current: 'alarm' });
    expect((await trace()).filter((p) => p.hop === 'alarm_fired').map((p) => p.instanceId)).toEqual([vms[0]]);

    const v211 = await curl('PUT', '/compute/v2.1/os-services/force-down', { body: { host, binary: 'nova-compute', forced_down: true }, headers: ['X-OpenStack-Nova-API-Version: 2.11'] });
    expect(v211.status).toBe(200);
    expect(v211.body.service.forced_down).toBe(true);
    const wrong = await curl('PUT', '/compute/v2.1/os-services/force-down', { body: { host, binary: 'nova-compute', forced_down: true }, headers: ['X-OpenStack-Nova-API-Version: 2.53'] });
    expect(wrong.status).toBe(400);
    const svc = (await curl('GET', `/compute/v2.1/os-services?host=${host}&binary=nova-compute`, { headers: ['X-OpenStack-Nova-API-Version: 2.53'] })).body.services[0];
    const v253 = await curl('PUT', `/compute/v2.1/os-services/${svc.id}`, { body: { forced_down: true }, headers: ['X-OpenStack-Nova-API-Version: 2.53'] });
    expect(v253.status).toBe(200);
    expect(v253.body.service.state).toBe('down');
    const down = await curl('GET', `/compute/v2.1/servers/${vms[0]}`, { headers: ['X-OpenStack-Nova-API-Version: 2.16'] });
    expect(down.body.server.host_status).toBe('DOWN');
    expect(down.body.server.status).toBe('ERROR');
  });

  it('stops on SIGTERM', async () => {
    proc!.kill('SIGTERM');
    const code = await new Promise((r) => proc!.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  });
});

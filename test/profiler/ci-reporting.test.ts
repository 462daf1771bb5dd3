/**
 * CI reporting on whole embedded-lab runs: the result filed in a local
 * endpoint that checks what OPNFV's TestAPI checks, and the energy recorder
 * told each step. Neither may change the verdict when it fails. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, type RunResults } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';

interface Call { method: string; url: string; body: unknown }

/** A TestAPI stand-in with its checks: 400 without pod/project/case, 404 for ones it does not know (results.py). */
function testApi(known: { pods: string[]; projects: string[]; cases: string[] }) {
  const calls: Call[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const body = data ? JSON.parse(data) as Record<string, unknown> : undefined;
      calls.push({ method: req.method!, url: req.url!, body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== 'POST' || req.url !== '/api/v1/results') return send(404, { message: 'no such route' });
      if (!body) return send(400, { message: 'no body' });
      for (const f of ['pod_name', 'project_name', 'case_name']) if (!body[f]) return send(400, { message: `${f} missing` });
      if (!known.pods.includes(String(body['pod_name']))) return send(404, { message: `Could not find pod [${body['pod_name']}]` });
      if (!known.projects.includes(String(body['project_name']))) return send(404, { message: `Could not find project [${body['project_name']}]` });
      if (!known.cases.includes(String(body['case_name']))) return send(404, { message: `Could not find testcase [${body['case_name']}]` });
      send(200, { href: `http://${req.headers.host}/api/v1/results/5a1b2c3d4e5f6a7b8c9d0e1f` });
    });
  });
  return { calls, server };
}

/** An energy recorder stand-in: answers its ping, records the calls. */
function recorder(pingStatus = 'OK') {
  const calls: Call[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      calls.push({ method: req.method!, url: req.url!, body: data ? JSON.parse(data) : undefined });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(req.url === '/monitoring/ping' ? JSON.stringify({ status: pingStatus }) : '{}');
    });
  });
  return { calls, server };
}

const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`127.0.0.1:${(s.address() as AddressInfo).port}`)));

describe('CI reporting', () => {
  let work: string;
  const api = testApi({ pods: ['doctor-lab-pod'], projects: ['doctor'], cases: ['fault_management'] });
  const energy = recorder();
  let apiAt: string;
  let energyAt: string;
  const run = async (env: Record<string, string>) => {
    const config = loadConfig({ env, readFile: () => undefined, cwd: work, flags: { vmCount: 1, labHosts: 1, inspectorPort: 0, consumerPort: 0, faultDurationS: 2, resultsDir: join(work, 'results') } });
    return runFaultManagement(config, { signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers') });
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-ci-'));
    apiAt = await listen(api.server);
    energyAt = await listen(energy.server);
  });
  afterAll(async () => {
    await abortRuns();
    await new Promise((r) => api.server.close(r));
    await new Promise((r) => energy.server.close(r));
    rmSync(work, { recursive: true, force: true });
  });

  it('files the result with the CI variables and the timings, and tells the energy recorder each step', async () => {
    const r: RunResults = await run({
      TEST_DB_URL: `http://ci:db-secret@${apiAt}/api/v1/results`, NODE_NAME: 'doctor-lab-pod', DEPLOY_SCENARIO: 'os-nosdn-nofeature-noha',
      BUILD_TAG: 'jenkins-doctor-42', INSTALLER_TYPE: 'lab', OPNFV_VERSION: 'zed', ENERGY_RECORDER_API_URL: `http://${energyAt}`,
    });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(api.calls).toHaveLength(1);
    const body = api.calls[0]!.body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['build_tag', 'case_name', 'criteria', 'details', 'installer', 'pod_name', 'project_name', 'scenario', 'start_date', 'stop_date', 'version']);
    expect(body).toMatchObject({
      project_name: 'doctor', case_name: 'fault_management', pod_name: 'doctor-lab-pod', installer: 'lab', version: 'zed',
      scenario: 'os-nosdn-nofeature-noha', build_tag: 'jenkins-doctor-42', criteria: 'PASS',
    });
    expect(body['start_date']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(body['stop_date']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const details = body['details'] as { notification: { last_ms: number }; profile: { checkpoints: unknown[]; components: unknown[] } };
    expect(details.notification.last_ms).toBe(r.notifications!.lastMs);
    expect(details.profile.checkpoints).toHaveLength(11);
    expect(details.profile.components.length).toBeGreaterThan(0);
    expect(r.testDb).toMatchObject({ ok: true, status: 200, href: expect.stringContaining('/api/v1/results/') });
    // The database's password is in neither the results nor the report.
    const saved = readFileSync(join(work, 'results', r.runId, 'results.json'), 'utf8');
    expect(saved).not.toContain('db-secret');
    expect(JSON.parse(saved).testDb.url).toBe(`http://${apiAt}/api/v1/results`);

    const base = '/recorders/environment/doctor-lab-pod';
    expect(energy.calls.map((c) => `${c.method} ${c.url} ${c.body ? JSON.stringify(c.body) : ''}`.trim())).toEqual([
      'GET /monitoring/ping',
      `POST ${base} {"scenario":"os-nosdn-nofeature-noha","step":"running"}`,
      `POST ${base}/step {"step":"provision"}`,
      `POST ${base}/step {"step":"inject"}`,
      `POST ${base}/step {"step":"detect"}`,
      `POST ${base}/step {"step":"notify"}`,
      `POST ${base}/step {"step":"cleanup"}`,
      `DELETE ${base}`,
    ]);
  }, 60_000);

  it('reports a refused result and an absent recorder, and the verdict stays PASS', async () => {
    api.calls.length = 0;
    const r = await run({ TEST_DB_URL: `http://${apiAt}`, NODE_NAME: 'unknown-pod-7', ENERGY_RECORDER_API_URL: 'http://127.0.0.1:9/' });
    expect(r.verdict, r.reason).toBe('PASS');
    expect(api.calls.map((c) => c.url)).toEqual(['/api/v1/results']); // the base URL gets TestAPI's path
    expect(r.testDb).toMatchObject({ ok: false, status: 404, error: expect.stringContaining('Could not find pod [unknown-pod-7]') });
  }, 60_000);

  it('names the variable when a reporting URL is not one', () => {
    expect(() => loadConfig({ env: { TEST_DB_URL: 'testresults.opnfv.org' }, readFile: () => undefined, cwd: work, flags: {} })).toThrow(/TEST_DB_URL: "testresults\.opnfv\.org" is not a URL/);
    expect(() => loadConfig({ env: { ENERGY_RECORDER_API_URL: 'ftp://x/' }, readFile: () => undefined, cwd: work, flags: {} })).toThrow(/ENERGY_RECORDER_API_URL: must be an http or https URL/);
  });
});

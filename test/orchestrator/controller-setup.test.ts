/**
 * Controller set-up and restore over SSH on a lab controller host (a namespace with sshd): the files are
 * changed only where something is missing, only their services restart, a second set-up changes nothing,
 * and restore (by the run, or by doctor cleanup after a SIGKILL) puts every file back byte for byte.
 * Needs root.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { restoreController, setUpController, SshSession, type ControllerLayout } from '../../src/orchestrator/index.js';
import { runCleanup } from '../../src/cli/run.js';
import { temporaryLab } from '../helpers/hosts.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPELINE = '---\nsources:\n    - name: event_source\n      events:\n          - "*"\n      sinks:\n          - event_sink\nsinks:\n    - name: event_sink\n      publishers:\n          - notifier://\n';
const DEFINITIONS = '---\n- event_type: compute.instance.update\n  traits:\n    instance_id:\n      fields: payload.instance_id\n';
const AODH = '[DEFAULT]\ntransport_url = rabbit://stackrabbit:secret@198.18.0.254:5672/\n\n[api]\nport = 8042\n';
const NOVA = '[DEFAULT]\ndebug = True\n\n[notifications]\nnotify_on_state_change = vm_and_task_state\n';

describe('controller set-up and restore', () => {
  let lab: Awaited<ReturnType<typeof temporaryLab>>;
  let etc: string;
  let layout: ControllerLayout;
  let ssh: SshSession;
  const files = () => [layout.eventPipeline, layout.eventDefinitions, layout.aodhConf, layout.novaConf];
  const fingerprint = () => files().map((f) => ({ f, sha: createHash('sha256').update(readFileSync(f)).digest('hex'), mode: statSync(f).mode, mtime: statSync(f).mtimeMs }));
  const restarts = () => (existsSync(join(etc, 'restarts.log')) ? readFileSync(join(etc, 'restarts.log'), 'utf8').trim().split('\n') : []);

  beforeAll(async () => {
    lab = await temporaryLab(1, 'doctor-ctl-', { controller: true });
    const c = lab.state.controller!;
    etc = join(c.dir, 'etc');
    layout = {
      eventPipeline: join(etc, 'ceilometer/event_pipeline.yaml'), eventDefinitions: join(etc, 'ceilometer/event_definitions.yaml'),
      aodhConf: join(etc, 'aodh/aodh.conf'), novaConf: join(etc, 'nova/nova.conf'), ceilometerConf: join(etc, 'ceilometer/ceilometer.conf'), // no logs: never read
      restart: Object.fromEntries(['ceilometer', 'aodh', 'nova'].map((s) => [s, `echo ${s} >> ${join(etc, 'restarts.log')}`])) as ControllerLayout['restart'],
    };
    ssh = await SshSession.connect({ host: c.hostIp, username: 'root' }, { privateKeyPath: lab.state.harnessKey, knownHostsPath: lab.state.knownHosts });
  });
  beforeEach(() => {
    rmSync(etc, { recursive: true, force: true });
    for (const [f, text, mode] of [[layout.eventPipeline, PIPELINE, 0o644], [layout.eventDefinitions, DEFINITIONS, 0o644], [layout.aodhConf, AODH, 0o640], [layout.novaConf, NOVA, 0o640]] as const) {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, text, { mode });
    }
  });
  afterAll(async () => {
    ssh?.close();
    await lab?.remove();
  });

  it('changes what is missing, restarts only those services, changes nothing the second time, and restores byte for byte', async () => {
    const before = fingerprint();
    const recorded: string[] = [];
    const first = await setUpController(ssh, layout, 'run1', (c) => recorded.push(c.path));
    // Nova already notified state changes: its file and its service are left alone.
    expect(first.changed.map((c) => c.path)).toEqual([layout.eventPipeline, layout.eventDefinitions, layout.aodhConf]);
    expect(recorded).toEqual(first.changed.map((c) => c.path));
    expect(first.restarted).toEqual(['ceilometer', 'aodh']);
    expect(restarts().sort()).toEqual(['aodh', 'ceilometer']); // side by side
    expect(readFileSync(layout.eventPipeline, 'utf8')).toContain('notifier://?topic=alarm.all');
    expect(readFileSync(layout.aodhConf, 'utf8')).toMatch(/^event_alarm_cache_ttl = 0$/m);
    expect(statSync(layout.aodhConf).mode & 0o777).toBe(0o640); // written through the original file
    expect(readFileSync(layout.novaConf, 'utf8')).toBe(NOVA);

    const second = await setUpController(ssh, layout, 'run2', () => {
      throw new Error('nothing should be recorded');
    });
    expect(second).toEqual({ changed: [], restarted: [] });
    expect(restarts()).toHaveLength(2);

    const back = await restoreController(ssh, first.changed, layout.restart);
    expect(back.restored.sort()).toEqual(first.changed.map((c) => c.path).sort());
    expect(fingerprint()).toEqual(before); // content, mode and times
    expect(readdirSync(dirname(layout.aodhConf))).toEqual(['aodh.conf']); // no backup or staged file left
    expect(restarts().sort()).toEqual(['aodh', 'aodh', 'ceilometer', 'ceilometer']);
  }, 60_000);

  it('after a run is SIGKILLed with the files changed, doctor cleanup restores them from the ledger', async () => {
    const before = fingerprint();
    const work = mkdtempSync(join(tmpdir(), 'doctor-ctl-kill-'));
    try {
      const c = lab.state.controller!;
      // A process that sets the controller up, recording in its ledger, then dies with no chance to clean up.
      const script = `
        const o = await import(${JSON.stringify(join(ROOT, 'dist/orchestrator/index.js'))});
        const layout = JSON.parse(process.env.LAYOUT);
        const ledger = new o.Ledger(process.env.LEDGERS, 'killed-run');
        const ssh = await o.SshSession.connect({ host: ${JSON.stringify(c.hostIp)}, username: 'root' }, { privateKeyPath: ${JSON.stringify(lab.state.harnessKey)}, knownHostsPath: ${JSON.stringify(lab.state.knownHosts)} });
        await o.setUpController(ssh, layout, 'killed-run', (f) => ledger.add({ kind: 'controller-file', host: 'controller', ip: ${JSON.stringify(c.hostIp)}, username: 'root',
          keyPath: ${JSON.stringify(lab.state.harnessKey)}, knownHostsPath: ${JSON.stringify(lab.state.knownHosts)}, path: f.path, backup: f.backup, service: f.service, restart: layout.restart[f.service] }));
        process.kill(process.pid, 'SIGKILL');`;
      const ledgers = join(work, 'state', 'doctor-harness', 'ledgers');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, LAYOUT: JSON.stringify(layout), LEDGERS: ledgers }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const signal = await new Promise((r) => child.once('exit', (_code, sig) => r(sig)));
      expect(signal, stderr).toBe('SIGKILL');
      expect(readFileSync(layout.eventPipeline, 'utf8')).toContain('notifier://?topic=alarm.all');

      const out: string[] = [];
      expect(await runCleanup({ XDG_STATE_HOME: join(work, 'state') }, (l) => out.push(l))).toBe(0);
      expect(out.join('\n')).toMatch(/run killed-run: cleaned/);
      expect(fingerprint()).toEqual(before);
      expect(readdirSync(dirname(layout.eventPipeline)).sort()).toEqual(['event_definitions.yaml', 'event_pipeline.yaml']);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});

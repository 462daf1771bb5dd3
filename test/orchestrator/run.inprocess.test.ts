/**
 * The whole run in this process, without root: the simulated cloud, real provisioning, services and
 * teardown, with a fake network and fault injector for the edges (RunDeps.edges). What is checked is
 * what a user sees: the verdict, the environment named, and a cloud left as it was found, also when the
 * run fails halfway.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type LabCloud } from '../../src/lab/index.js';
import { loadConfig, PILLAR_ADDRESSES, runFaultManagement, SERVER_LIST, type SettingKey } from '../../src/orchestrator/index.js';
import { summary } from '../../src/cli/run.js';
import { fakeEdges } from '../helpers/fake-edges.js';

const HOSTS = [{ name: 'compute-1', ip: '198.18.250.2' }, { name: 'compute-2', ip: '198.18.250.3' }];

describe('the run in-process (simulated cloud, fake network and injector)', () => {
  let work: string;
  let cloud: LabCloud;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-inproc-'));
    cloud = await startCloud({ hosts: HOSTS, buildDelayMs: 5 });
    writeFileSync(join(work, 'clouds.yaml'), cloud.cloudsYaml('inproc'), { mode: 0o600 });
    writeFileSync(join(work, 'no-key-needed'), 'not a key\n', { mode: 0o600 });
  });
  afterEach(() => cloud.cloud.faults.reset());
  afterAll(async () => {
    await cloud?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const configWith = (flags: Partial<Record<SettingKey, string | number | boolean>>, env: Record<string, string> = {}) => loadConfig({
    env: { OS_CLIENT_CONFIG_FILE: join(work, 'clouds.yaml'), OS_CLOUD: 'inproc', ...env },
    // The controllers' set-up has tests of its own below.
    flags: { sshKey: join(work, 'no-key-needed'), inspectorPort: 0, consumerPort: 0, faultDurationS: 1, resultsDir: join(work, 'results'), skipControllerSetup: true, ...flags },
    readFile: (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    cwd: work,
  });
  const run = (config: ReturnType<typeof configWith>, edges: ReturnType<typeof fakeEdges>['edges'], opts: { signal?: AbortSignal; progress?: (line: string) => void } = {}) =>
    runFaultManagement(config, { signal: opts.signal ?? new AbortController().signal, progress: opts.progress ?? (() => {}), ledgerDir: join(work, 'ledgers'), edges });

  /** The cloud as the run found it: no test tenant, VM, alarm, flavor or forced-down service left. */
  function expectCloudAsFound(runId: string) {
    const s = cloud.cloud.state;
    expect(s.servers.size).toBe(0);
    expect(s.alarms.size).toBe(0);
    expect([...s.projects.values()].map((p) => p.name).sort()).toEqual(['admin', 'service']);
    expect([...s.users.values()].map((u) => u.name)).toEqual(['admin']);
    expect([...s.flavors.values()].some((f) => f.name.includes(runId))).toBe(false);
    expect([...s.services.values()].some((x) => x.forcedDown)).toBe(false);
    expect(existsSync(join(work, 'ledgers', `${runId}.jsonl`))).toBe(false);
  }

  it('local installer: passes at 3 VMs on the addresses COMPUTE_IP gives, names its controllers, and cleans up', async () => {
    const f = fakeEdges();
    const config = configWith({ vmCount: 3 }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS.map((h) => `${h.name}=${h.ip}`).join(','), CONTROLLER_IPS: '198.18.250.10 198.18.250.11' });
    // Every server the cloud makes, with the create request (its reservation) it came from.
    const made: Array<{ name: string; reservationId: string }> = [];
    const servers = cloud.cloud.state.servers;
    const set = servers.set.bind(servers);
    servers.set = (id, rec) => (made.push({ name: rec.name, reservationId: rec.reservationId }), set(id, rec));
    const r = await run(config, f.edges).finally(() => (servers.set = set));
    expect(r.verdict, r.reason).toBe('PASS');
    // The three VMs came from one multi-create request, named as Nova names them.
    expect(new Set(made.map((m) => m.reservationId)).size).toBe(1);
    expect(made.map((m) => m.name).sort()).toEqual(['doctor_vm-1', 'doctor_vm-2', 'doctor_vm-3']);
    expect(r.notifications).toMatchObject({ expected: 3, received: 3 });
    // The inspector's resets, paced by what Nova serves (the default), as the summary tells it.
    expect(summary(r)).toContainEqual(expect.stringMatching(/^ {2}inspector: 3 reset-state call\(s\), in flight adapted to Nova: 16 at first, \d+ at most, \d+ at the end \(best answer [\d.]+ ms\)$/));
    // Aodh runs on the controllers, which cannot reach this machine's loopback: a reverse tunnel from each to the consumer.
    const remote = expect.stringMatching(/^127\.0\.0\.1:\d+$/);
    expect(r.environment).toEqual({
      name: 'local', controllers: [{ name: 'controller-1', ip: '198.18.250.10' }, { name: 'controller-2', ip: '198.18.250.11' }],
      tunnels: [{ node: 'controller-1', remote, reconnects: 0 }, { node: 'controller-2', remote, reconnects: 0 }],
    });
    // The host's own timer brought the link back (nobody here can), and the run waited for it.
    expect(f.calls.filter((c) => !c.startsWith('tunnel '))).toEqual([`reach ${r.host!.ip}`, `inject ${r.host!.ip}`, `await ${r.host!.ip}`]);
    expect(f.calls.filter((c) => c.startsWith('tunnel ')).map((c) => c.split(':')[0])).toEqual(['tunnel 198.18.250.10', 'tunnel 198.18.250.11']);
    expect(r.faultLog!.upAt).toBeGreaterThanOrEqual(r.faultLog!.downAt!);
    expect([...f.net.probed]).toEqual([r.host!.ip]); // only the VMs' host was probed
    expect(r.cleanup).toEqual({ ok: true, errors: [] });
    expectCloudAsFound(r.runId);
  });

  it('local installer: a compute not in COMPUTE_IP is looked up by its name; one that resolves nowhere ends the run with an error naming COMPUTE_IP, and the VMs it made are removed', async () => {
    const resolved = await run(configWith({ vmCount: 1 }, { INSTALLER_TYPE: 'local' }), fakeEdges({ resolve: Object.fromEntries(HOSTS.map((h) => [h.name, h.ip])) }).edges);
    expect(resolved.verdict, resolved.reason).toBe('PASS');
    expectCloudAsFound(resolved.runId);

    const f = fakeEdges();
    const r = await run(configWith({ vmCount: 2 }, { INSTALLER_TYPE: 'local' }), f.edges);
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/cannot find the address of compute host compute-\d: set COMPUTE_IP .*ENOTFOUND/);
    expect(f.calls).toEqual([]); // nothing was injected, nothing probed
    expect(f.net.probed.size).toBe(0);
    expect(r.cleanup.ok).toBe(true);
    expectCloudAsFound(r.runId);
  });

  it('a fixed --inspector-concurrency is what the run records and the summary says', async () => {
    const f = fakeEdges();
    const r = await run(configWith({ vmCount: 5, inspectorConcurrency: '2' }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS.map((h) => `${h.name}=${h.ip}`).join(',') }), f.edges);
    expect(r.verdict, r.reason).toBe('PASS');
    expect(r.inspector!.concurrency).toEqual({ mode: 'fixed', limit: 2 });
    expectCloudAsFound(r.runId);
    expect(summary(r)).toContain('  inspector: 5 reset-state call(s), 2 in flight at most');
  });

  it('devstack installer: the compute is Nova\'s host_ip, the controller the Keystone host; an unreachable host is refused before any fault', async () => {
    const f = fakeEdges({ unreachable: HOSTS.map((h) => h.ip) });
    const r = await run(configWith({ vmCount: 1 }), f.edges);
    expect(r.config['installer']).toMatchObject({ type: 'devstack' });
    expect(r.environment).toEqual({ name: 'devstack', controllers: [{ name: 'controller', ip: '127.0.0.1' }] });
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/^refusing to inject: connect ECONNREFUSED 198\.18\.250\.\d:22/);
    expect(HOSTS.map((h) => h.ip)).toContain(r.host!.ip);
    expect(f.calls).toEqual([`reach ${r.host!.ip}`]);
    expectCloudAsFound(r.runId);
  });

  it('a cloud that refuses the VMs: the run ends with an error and removes the tenant it made', async () => {
    cloud.cloud.faults.failApi('compute', 500, { method: 'POST', count: 100 });
    const f = fakeEdges();
    const r = await run(configWith({ vmCount: 2 }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS[0]!.ip }), f.edges);
    expect(r.verdict).toBe('ERROR');
    expect(r.reason).toMatch(/500/);
    cloud.cloud.faults.reset();
    expect(r.cleanup, JSON.stringify(r.cleanup)).toMatchObject({ ok: true });
    expectCloudAsFound(r.runId);
  });

  describe('controller set-up (a controller that is a folder here, its commands a local shell)', () => {
    /** A controller as a fresh deployment has it: Ceilometer's shipped pipeline (no alarm sink), Aodh's default cache TTL. */
    const STOCK = {
      'event_pipeline.yaml': '---\nsources:\n    - name: event_source\n      events:\n          - "*"\n      sinks:\n          - event_sink\nsinks:\n    - name: event_sink\n      publishers:\n          - notifier://\n',
      'event_definitions.yaml': "---\n- event_type: 'compute.instance.*'\n  traits: &instance_traits\n    tenant_id:\n      fields: payload.tenant_id\n    instance_id:\n      fields: payload.instance_id\n    host:\n      fields: publisher_id.`split(., 1, 1)`\n    state:\n      fields: payload.state\n",
      'aodh.conf': '[DEFAULT]\ntransport_url = rabbit://openstack:secret@198.18.250.10:5672/\n# debug = true\n\n[database]\nconnection = mysql+pymysql://aodh:secret@198.18.250.10/aodh\n',
      'nova.conf': '[DEFAULT]\nmy_ip = 198.18.250.10\n\n[notifications]\nnotify_on_state_change = vm_and_task_state\n',
    };
    let ctl: string;
    let layout: string;
    const files = () => Object.fromEntries(readdirSync(ctl).filter((f) => f !== 'restarts').sort().map((f) => [f, readFileSync(join(ctl, f), 'utf8')]));
    const restarts = () => (existsSync(join(ctl, 'restarts')) ? readFileSync(join(ctl, 'restarts'), 'utf8').trim().split('\n').sort() : []);
    const config = () => configWith({ vmCount: 2, skipControllerSetup: false, controllerLayout: layout }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS[0]!.ip, CONTROLLER_IPS: '198.18.250.10' });

    beforeAll(() => {
      ctl = join(work, 'controller');
      layout = join(work, 'controller-layout.yaml');
      const restart = (svc: string) => `echo ${svc} >> ${join(ctl, 'restarts')}`;
      writeFileSync(layout, [
        `eventPipeline: ${join(ctl, 'event_pipeline.yaml')}`, `eventDefinitions: ${join(ctl, 'event_definitions.yaml')}`,
        `aodhConf: ${join(ctl, 'aodh.conf')}`, `novaConf: ${join(ctl, 'nova.conf')}`,
        'restart:', `  ceilometer: ${restart('ceilometer')}`, `  aodh: ${restart('aodh')}`, `  nova: ${restart('nova')}`, '',
      ].join('\n'));
    });
    beforeEach(() => {
      rmSync(ctl, { recursive: true, force: true });
      mkdirSync(ctl);
      for (const [f, text] of Object.entries(STOCK)) writeFileSync(join(ctl, f), text, { mode: 0o640 });
    });

    it('adds the alarm sink and the zero cache TTL, restarts only Ceilometer and Aodh, and puts every file back byte for byte', async () => {
      const f = fakeEdges();
      const lines: string[] = [];
      const seen: Record<string, string> = {};
      const r = await run(config(), f.edges, {
        progress: (l) => {
          lines.push(l);
          // What the services ran on while the run used them.
          if (l.startsWith('provisioning ')) Object.assign(seen, files());
        },
      });
      expect(r.verdict, r.reason).toBe('PASS');
      expect(seen['event_pipeline.yaml']).toMatch(/publishers:\n\s+- notifier:\/\/\n\s+- notifier:\/\/\?topic=alarm\.all\n/);
      expect(seen['aodh.conf']).toMatch(/^\[DEFAULT\]\ntransport_url = .*\nevent_alarm_cache_ttl = 0\n# debug = true\n/);
      expect(seen['event_definitions.yaml']).toBe(STOCK['event_definitions.yaml']); // it had every trait already
      expect(r.environment?.controllerSetup).toEqual([{
        node: 'controller-1', restarted: ['ceilometer', 'aodh'], restored: [join(ctl, 'aodh.conf'), join(ctl, 'event_pipeline.yaml')], setupMs: expect.any(Number), restoreMs: expect.any(Number),
        changed: [{ path: join(ctl, 'event_pipeline.yaml'), what: 'the notifier://?topic=alarm.all event sink' }, { path: join(ctl, 'aodh.conf'), what: 'event_alarm_cache_ttl = 0' }],
      }]);
      expect(lines).toContain('restarting ceilometer, aodh on controller-1 (198.18.250.10)');
      expect(summary(r).filter((l) => l.startsWith('  controller-1:'))).toEqual([expect.stringMatching(/^ {2}controller-1: set up 2 file\(s\) \(restarted ceilometer, aodh\) in [\d.]+ s; put back 2 of 2 in [\d.]+ s$/)]);
      // Back as they were, no backup or staged file left; each service restarted once for the set-up, once for the restore.
      expect(files()).toEqual(STOCK);
      expect(restarts()).toEqual(['aodh', 'aodh', 'ceilometer', 'ceilometer']);
      expect(f.calls.filter((c) => c.startsWith('controller'))).toEqual(['controller 198.18.250.10', 'controller 198.18.250.10']);
      expect(f.commands.some((c) => c.startsWith('sudo'))).toBe(false); // root needs no sudo
      expectCloudAsFound(r.runId);
    });

    it('as a user other than root, through sudo: the same changes, and every file back with its mode', async () => {
      const f = fakeEdges();
      const seen: Record<string, string> = {};
      const config = configWith({ vmCount: 1, skipControllerSetup: false, controllerLayout: layout, sshUser: 'stack' }, { INSTALLER_TYPE: 'local', COMPUTE_IP: HOSTS[0]!.ip, CONTROLLER_IPS: '198.18.250.10' });
      const r = await run(config, f.edges, { progress: (l) => l.startsWith('provisioning ') && Object.assign(seen, files()) });
      expect(r.verdict, r.reason).toBe('PASS');
      expect(seen['aodh.conf']).toMatch(/^event_alarm_cache_ttl = 0$/m);
      expect(r.environment?.controllerSetup?.[0]).toMatchObject({ restarted: ['ceilometer', 'aodh'], restored: [join(ctl, 'aodh.conf'), join(ctl, 'event_pipeline.yaml')] });
      expect(files()).toEqual(STOCK);
      expect(statSync(join(ctl, 'aodh.conf')).mode & 0o777).toBe(0o640);
      expect(restarts()).toEqual(['aodh', 'aodh', 'ceilometer', 'ceilometer']);
      expect(readdirSync('/tmp').filter((x) => x.startsWith('doctor-upload-'))).toEqual([]); // sudo's uploads are gone
      // This test runs as root, so the commands would work without sudo too: what matters is that every one went through it,
      // file reads and writes included (sudo cat, the upload written through sudo).
      expect(f.commands.length).toBeGreaterThan(8);
      expect(f.commands.filter((c) => !c.startsWith('sudo -n sh -c '))).toEqual([]);
      expect(f.commands.some((c) => c.startsWith(`sudo -n sh -c 'cat -- '\\''${join(ctl, 'aodh.conf')}`))).toBe(true);
    });

    it('a controller already set up is left alone, and the run says so', async () => {
      const first = await run(config(), fakeEdges().edges, { progress: (l) => l.startsWith('provisioning ') && writeFileSync(join(work, 'set-up.json'), JSON.stringify(files())) });
      expect(first.verdict, first.reason).toBe('PASS');
      // As an installer may leave it: the set-up's own files.
      for (const [f, text] of Object.entries(JSON.parse(readFileSync(join(work, 'set-up.json'), 'utf8')) as Record<string, string>)) writeFileSync(join(ctl, f), text);
      rmSync(join(ctl, 'restarts'), { force: true });
      const before = files();
      const lines: string[] = [];
      const r = await run(config(), fakeEdges().edges, { progress: (l) => lines.push(l) });
      expect(r.verdict, r.reason).toBe('PASS');
      expect(r.environment?.controllerSetup).toEqual([{ node: 'controller-1', changed: [], restarted: [], restored: [], setupMs: expect.any(Number) }]);
      expect(lines).toContain('controller-1 (198.18.250.10) is already set up: nothing to change');
      expect(summary(r)).toContain('  controller-1: already set up, nothing changed');
      expect(files()).toEqual(before);
      expect(restarts()).toEqual([]);
    });

    it('interrupted while its services restart: the run ends INTERRUPTED and the files are put back', async () => {
      const ac = new AbortController();
      const r = await run(config(), fakeEdges().edges, { signal: ac.signal, progress: (l) => l.startsWith('restarting ') && ac.abort(new Error('interrupted (SIGINT)')) });
      expect(r.verdict).toBe('INTERRUPTED');
      expect(r.environment?.controllerSetup?.[0]?.restored).toHaveLength(2);
      expect(files()).toEqual(STOCK);
      expect(r.cleanup).toEqual({ ok: true, errors: [] });
      expectCloudAsFound(r.runId);
    });

    it('an unreachable controller ends the run before anything is made, with an error that says what it needs and how to skip it', async () => {
      const r = await run(config(), fakeEdges({ unreachable: ['198.18.250.10'] }).edges);
      expect(r.verdict).toBe('ERROR');
      expect(r.reason).toMatch(/^cannot set up controller-1 \(198\.18\.250\.10\): SSH to root@198\.18\.250\.10:22 failed: connect ECONNREFUSED .*; it needs SSH as root with the compute hosts' key, or --skip-controller-setup when/);
      expect(files()).toEqual(STOCK);
      expectCloudAsFound(r.runId);
    });

    it('an unreadable controller file ends the run with an error naming the file and controllerLayout; nothing is changed', async () => {
      rmSync(join(ctl, 'aodh.conf'));
      const r = await run(config(), fakeEdges().edges);
      expect(r.verdict).toBe('ERROR');
      expect(r.reason).toMatch(new RegExp(`cannot read ${join(ctl, 'aodh.conf').replace(/[.]/g, '\\.')} on the controller .*is aodh installed there, and is this the installer's layout \\(controllerLayout\\)\\?`));
      const { 'aodh.conf': _gone, ...rest } = STOCK;
      expect(files()).toEqual(rest);
      expect(restarts()).toEqual([]);
      expectCloudAsFound(r.runId);
    });
  });

  describe('apex installer (an undercloud that answers as TripleO\'s does)', () => {
    const UNDERCLOUD = '192.0.2.1';
    /** The overcloud the undercloud lists: Nova knows its computes by their internal_api address. */
    const OVERCLOUD = [
      { ID: 'e50c4323-fd15-4a7e-8a40-f7b678f45d40', Name: 'overcloud-controller-0', Status: 'ACTIVE', Networks: { ctlplane: ['192.0.2.10'] }, Image: 'overcloud-full', Flavor: 'control' },
      { ID: '902f4f5f-01f2-40c9-bd93-0ecf16a53d82', Name: 'overcloud-novacompute-0', Status: 'ACTIVE', Networks: { ctlplane: ['192.0.2.20'], internal_api: [HOSTS[0]!.ip] }, Image: 'overcloud-full', Flavor: 'compute' },
      { ID: '1c69cb21-532b-423d-8833-eaa65688f2c6', Name: 'overcloud-novacompute-1', Status: 'ACTIVE', Networks: { ctlplane: ['192.0.2.21'], internal_api: [HOSTS[1]!.ip] }, Image: 'overcloud-full', Flavor: 'compute' },
    ];
    /** An undercloud session answering the commands the adapter runs; `commands` records them. */
    function undercloud(opts: { servers?: unknown[]; serverList?: { code: number; stderr: string }; answers?: Record<string, string> } = {}) {
      const commands: string[] = [];
      const session = {
        async exec(command: string) {
          commands.push(command);
          if (opts.answers?.[command] !== undefined) return { stdout: opts.answers[command]!, stderr: '', code: 0 };
          if (command === SERVER_LIST) return opts.serverList ? { stdout: '', ...opts.serverList } : { stdout: JSON.stringify(opts.servers ?? OVERCLOUD), stderr: '', code: 0 };
          if (command.startsWith('ssh-keyscan ')) return { stdout: '192.0.2.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOvjbUqmdI7aGBd0+3PJFuIkRzRaK+YlgwJiHx2uGmNT\n', stderr: '', code: 0 };
          if (command.startsWith('grep -qs docker')) return { stdout: '', stderr: '', code: 0 };
          return { stdout: '', stderr: `unexpected: ${command}`, code: 127 };
        },
        readFile: async (path: string) => (path === '.ssh/id_rsa' ? '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----' : Promise.reject(new Error('No such file'))),
        writeFile: async () => {},
        close() {},
      };
      return { session, commands };
    }
    const apexRun = (uc: ReturnType<typeof undercloud> | 'unreachable', f = fakeEdges(), installer: { type: string; user: string } = { type: 'apex', user: 'stack' }) => {
      const seen: Array<{ user?: string; key: string; knownHosts?: string; keyText: string }> = [];
      const edges = {
        ...f.edges,
        controller: async (node: Parameters<NonNullable<typeof f.edges.controller>>[0], log: Parameters<NonNullable<typeof f.edges.controller>>[1]) => {
          if (node.ip !== UNDERCLOUD) return f.edges.controller!(node, log);
          if (uc === 'unreachable') throw new Error(`SSH to ${installer.user}@${UNDERCLOUD}:22 failed: connect ETIMEDOUT`);
          expect(node.ssh.target.username).toBe(installer.user);
          return uc.session;
        },
        faults: {
          ...f.edges.faults!,
          async reach(compute: Parameters<NonNullable<typeof f.edges.faults>['reach']>[0], log: Parameters<NonNullable<typeof f.edges.faults>['reach']>[1]) {
            const { privateKeyPath, knownHostsPath } = compute.ssh.auth;
            seen.push({ user: compute.ssh.target.username, key: privateKeyPath, keyText: readFileSync(privateKeyPath, 'utf8'), ...(knownHostsPath ? { knownHosts: readFileSync(knownHostsPath, 'utf8') } : {}) });
            return f.edges.faults!.reach(compute, log);
          },
        },
      };
      const config = configWith({ vmCount: 1 }, { INSTALLER_TYPE: installer.type, INSTALLER_IP: UNDERCLOUD });
      return run(config, edges).then((r) => ({ r, seen, f }));
    };

    it('finds the overcloud on the undercloud, reaches the VMs\' compute at its ctlplane address as heat-admin with the undercloud\'s key, and passes', async () => {
      const uc = undercloud();
      const { r, seen, f } = await apexRun(uc);
      expect(r.verdict, r.reason).toBe('PASS');
      expect(r.environment).toMatchObject({ name: 'apex', controllers: [{ name: 'overcloud-controller-0', ip: '192.0.2.10' }], tunnels: [{ node: 'overcloud-controller-0', reconnects: 0 }] });
      // Nova names compute-N at its internal_api address; the node is reached on ctlplane.
      const node = OVERCLOUD.find((n) => n.Networks.internal_api?.includes(HOSTS.find((h) => h.name === r.host!.name)!.ip))!;
      expect(r.host).toEqual({ name: expect.stringMatching(/^compute-\d$/), ip: node.Networks.ctlplane[0], fault: 'link-down' });
      expect([...f.net.probed]).toEqual([node.Networks.ctlplane[0]]);
      expect(seen).toEqual([{ user: 'heat-admin', key: expect.stringMatching(/\/doctor-nodes-\w+\/overcloud-key$/), keyText: expect.stringContaining('not a real key'), knownHosts: expect.stringMatching(/^192\.0\.2\.10 ssh-ed25519 /) }]);
      expect(existsSync(seen[0]!.key)).toBe(false); // the fetched key went with the run
      expect(uc.commands[0]).toBe(SERVER_LIST);
      expect(uc.commands.find((c) => c.startsWith('ssh-keyscan '))).toBe("ssh-keyscan -T 5 '192.0.2.10' '192.0.2.20' '192.0.2.21' 2>/dev/null; true");
      expect(r.cleanup).toEqual({ ok: true, errors: [] });
      expectCloudAsFound(r.runId);
    });

    it('says what is wrong with the undercloud: unreachable, no openstack client, no compute, or not the compute Nova names', async () => {
      const cases: Array<[ReturnType<typeof undercloud> | 'unreachable', RegExp]> = [
        ['unreachable', /^cannot reach the apex undercloud as stack@192\.0\.2\.1 \(INSTALLER_IP, SSH_KEY\): SSH to stack@192\.0\.2\.1:22 failed: connect ETIMEDOUT$/],
        [undercloud({ serverList: { code: 127, stderr: 'sh: 1: openstack: not found' } }), /^"\. ~\/stackrc && openstack server list -f json" on the apex undercloud \(stack@192\.0\.2\.1\) failed \(exit 127\) listing the overcloud: sh: 1: openstack: not found$/],
        [undercloud({ servers: OVERCLOUD.slice(0, 1) }), /^the undercloud at 192\.0\.2\.1 lists no compute node \(names ending -novacompute-N or -compute-N\): overcloud-controller-0$/],
        [undercloud({ servers: OVERCLOUD.map((n) => ({ ...n, Networks: { ctlplane: n.Networks.ctlplane } })) }), /^Nova's compute compute-\d \(198\.18\.250\.\d\) is not among the compute nodes the undercloud at 192\.0\.2\.1 lists \(overcloud-novacompute-0=192\.0\.2\.20, overcloud-novacompute-1=192\.0\.2\.21\)$/],
      ];
      for (const [uc, reason] of cases) {
        const { r } = await apexRun(uc);
        expect(r.verdict).toBe('ERROR');
        expect(r.reason).toMatch(reason);
        expect(r.cleanup).toEqual({ ok: true, errors: [] });
        expectCloudAsFound(r.runId);
      }
    });

    it('mcp: the salt master\'s pillar gives the nodes, reached as ubuntu with the same key; a master without compute minions is a clear error', async () => {
      const pillar = ['cfg01.mcp.local: 192.0.2.1', 'ctl01.mcp.local: 192.0.2.10', ...HOSTS.map((h, i) => `cmp00${i + 1}.mcp.local: ${h.ip}`), ''].join('\n');
      const master = undercloud({ answers: { [PILLAR_ADDRESSES]: pillar } });
      const { r, seen } = await apexRun(master, fakeEdges(), { type: 'mcp', user: 'ubuntu' });
      expect(r.verdict, r.reason).toBe('PASS');
      expect(r.environment).toMatchObject({ name: 'mcp', controllers: [{ name: 'ctl01', ip: '192.0.2.10' }] });
      expect(HOSTS.map((h) => h.ip)).toContain(r.host!.ip); // Nova's compute-N matched by address (single_address)
      expect(seen).toEqual([{ user: 'ubuntu', key: join(work, 'no-key-needed'), keyText: 'not a key\n', knownHosts: expect.stringMatching(/^192\.0\.2\.10 ssh-ed25519 /) }]);
      expect(master.commands[0]).toBe(PILLAR_ADDRESSES);
      expectCloudAsFound(r.runId);

      const bare = await apexRun(undercloud({ answers: { [PILLAR_ADDRESSES]: 'cfg01.mcp.local: 192.0.2.1\nctl01.mcp.local: 192.0.2.10\n' } }), fakeEdges(), { type: 'mcp', user: 'ubuntu' });
      expect(bare.r.verdict).toBe('ERROR');
      expect(bare.r.reason).toBe('the salt master at 192.0.2.1 lists no compute node (minions cmp*): cfg01.mcp.local, ctl01.mcp.local');
      expectCloudAsFound(bare.r.runId);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/shared/index.js';
import { loadConfig, redactedConfig } from '../../src/orchestrator/index.js';

const base = { flags: {}, readFile: () => undefined, cwd: '/work' };
const cloudEnv = {
  OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'admin', OS_PASSWORD: 'topsecret-pw', OS_PROJECT_NAME: 'admin', SSH_KEY: '/root/.ssh/id',
};

describe('run configuration', () => {
  it('defaults to the embedded lab and Doctor semantics when no cloud is configured', () => {
    const c = loadConfig({ ...base, env: {} });
    expect(c.cloud).toEqual({ mode: 'lab', hosts: 2, latency: {}, dropWebhooks: false });
    expect(c).toMatchObject({ vmCount: 1, thresholdMs: 1000, profile: 'doctor', placement: 'one-host', inspector: { port: 12345 }, consumer: { port: 12346 } });
    expect(c.resultsDir).toMatch(new RegExp(`^/work/results/${c.runId}$`));
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("installers: devstack's stack user, local's COMPUTE_IP and CONTROLLER_IPS, and no installer without an adapter", () => {
    expect(loadConfig({ ...base, env: cloudEnv }).ssh.user).toBe('stack');
    expect(loadConfig({ ...base, env: { ...cloudEnv, COMPUTE_USER: 'heat-admin' } }).ssh.user).toBe('heat-admin');
    const local = loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: 'local', COMPUTE_IP: 'cmp1=10.0.0.5,cmp2=10.0.0.6', CONTROLLER_IPS: '10.0.0.2, 10.0.0.3' } });
    expect(local.installer).toEqual({ type: 'local', computeIps: { cmp1: '10.0.0.5', cmp2: '10.0.0.6' }, controllerIps: ['10.0.0.2', '10.0.0.3'] });
    expect(local.ssh.user).toBe('root');
    expect(loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: 'local', COMPUTE_IP: '10.0.0.5' } }).installer.computeIps).toEqual({ '*': '10.0.0.5' });
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: 'local', COMPUTE_IP: 'cmp1=10.0.0.5,10.0.0.6' } })).toThrow(/^COMPUTE_IP: must be an address, or name=address,name=address/);
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: 'daisy' } })).toThrow(/^--installer \/ INSTALLER_TYPE: daisy is not supported yet: devstack, local, apex, fuel, mcp are/);
    for (const type of ['fuel', 'mcp']) {
      expect(() => loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: type } })).toThrow(new RegExp(`^--installer-ip / INSTALLER_IP: the ${type} installer needs the salt master's address`));
      // Doctor's key for the salt master, unless SSH_KEY says otherwise.
      expect(loadConfig({ ...base, env: { ...cloudEnv, SSH_KEY: undefined, INSTALLER_TYPE: type, INSTALLER_IP: '10.20.0.2' } }).ssh.keyPath).toBe('/var/lib/opnfv/mcp.rsa');
      expect(loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: type, INSTALLER_IP: '10.20.0.2' } }).ssh.keyPath).toBe('/root/.ssh/id');
    }
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: 'apex' } })).toThrow(/^--installer-ip \/ INSTALLER_IP: the apex installer needs the undercloud's address/);
    expect(loadConfig({ ...base, env: { ...cloudEnv, INSTALLER_TYPE: 'apex', INSTALLER_IP: '192.0.2.1' } }).installer).toEqual({ type: 'apex', ip: '192.0.2.1' });
  });

  it("reads Doctor's variables, and flags win over them, and they over a config file", () => {
    const files: Record<string, string> = { '/etc/d.yaml': 'vmCount: 3\nprofile: fast\nthresholdMs: 500\n' };
    const c = loadConfig({ env: { VM_COUNT: '5', IMAGE_NAME: 'cirros-0.6', CI_DEBUG: 'true' }, flags: { thresholdMs: '750' }, configFile: '/etc/d.yaml', readFile: (p) => files[p], cwd: '/w' });
    expect(c).toMatchObject({ vmCount: 5, profile: 'fast', thresholdMs: 750, imageName: 'cirros-0.6', logLevel: 'debug' });
  });

  it('names the variable, flag or file key that is wrong', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    };
    expect(err(() => loadConfig({ ...base, env: { VM_COUNT: 'many' } })).field).toBe('VM_COUNT');
    expect(err(() => loadConfig({ ...base, env: {}, flags: { vmCount: '0' } })).message).toMatch(/^--vm-count: .*(from the command line)/);
    expect(err(() => loadConfig({ ...base, env: { INSPECTOR_TYPE: 'congress' } })).message).toMatch(/^INSPECTOR_TYPE: only the sample inspector/);
    expect(err(() => loadConfig({ ...base, env: { TEST_CASE: 'maintenance' } })).message).toMatch(/^TEST_CASE: only fault_management/);
    const files: Record<string, string> = { '/c.yaml': 'vmCount: 2\nvmcount: 3\n' };
    expect(err(() => loadConfig({ ...base, env: {}, configFile: '/c.yaml', readFile: (p) => files[p] })).message).toBe('vmcount: is not a known setting (from /c.yaml)');
    expect(err(() => loadConfig({ ...base, env: {}, configFile: '/missing.yaml' })).message).toMatch(/^--config: cannot read \/missing\.yaml/);
  });

  it('uses the configured cloud, needs SSH access to it, and keeps the password out of results', () => {
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, SSH_KEY: undefined } })).toThrow(/^SSH_KEY: a real cloud needs/);
    const c = loadConfig({ ...base, env: cloudEnv });
    expect(c.cloud.mode).toBe('cloud');
    expect(c.installer.type).toBe('devstack');
    const shown = JSON.stringify(redactedConfig(c));
    expect(shown).toContain('http://127.0.0.1:5000/v3');
    expect(shown).not.toContain('topsecret-pw');
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, OS_PASSWORD: '' } })).toThrow(/^OS_PASSWORD/);
  });

  it('takes the OSProfiler key from a file (never the command line), names the flag when it cannot, and keeps the key out of results', () => {
    const files: Record<string, string> = { '/work/hmac.key': 'doctor-hmac-key\n' };
    const readFile = (p: string) => files[p];
    const c = loadConfig({ ...base, readFile, env: cloudEnv, flags: { osprofilerHmacKeyFile: 'hmac.key', osprofilerConnection: 'redis://127.0.0.1:6379' } });
    expect(c.cloud.mode === 'cloud' && c.cloud.credentials.profileKey).toBe('doctor-hmac-key');
    expect(c.osprofilerConnection).toBe('redis://127.0.0.1:6379');
    expect(JSON.stringify(redactedConfig(c))).not.toContain('doctor-hmac-key');
    expect(() => loadConfig({ ...base, readFile, env: cloudEnv, flags: { osprofilerHmacKeyFile: 'missing.key' } })).toThrow(/^--osprofiler-hmac-key-file: cannot read an HMAC key from missing\.key/);
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, OSPROFILER_CONNECTION_STRING: 'localhost:6379' } })).toThrow(/^OSPROFILER_CONNECTION_STRING: must be an OSProfiler connection string/);
  });

  it('turns the shortcut on with --shortcut or TRANSPORT_URL, keeps the URL\'s password out of results, and refuses it where there is no bus', () => {
    expect(loadConfig({ ...base, env: cloudEnv }).shortcut).toBeUndefined();
    expect(loadConfig({ ...base, env: cloudEnv, flags: { shortcut: true } }).shortcut).toEqual({});
    const c = loadConfig({ ...base, env: { ...cloudEnv, TRANSPORT_URL: 'rabbit://nova:bus-secret@10.0.0.5:5672/' } });
    expect(c.shortcut).toEqual({ url: 'rabbit://nova:bus-secret@10.0.0.5:5672/' });
    const shown = JSON.stringify(redactedConfig(c));
    expect(shown).toContain('rabbit://10.0.0.5:5672/');
    expect(shown).not.toContain('bus-secret');
    expect(() => loadConfig({ ...base, env: { ...cloudEnv, TRANSPORT_URL: 'kafka://10.0.0.5:9092/' } })).toThrow(/^TRANSPORT_URL: the shortcut publishes on RabbitMQ/);
    expect(() => loadConfig({ ...base, env: {}, flags: { shortcut: true } })).toThrow(/^--shortcut: the embedded lab's simulated cloud has no message bus/);
  });

  it('takes the user\'s inspector as a command line with {port} (flag or INSPECTOR_COMMAND), and refuses one without it or with the shortcut', () => {
    expect(loadConfig({ ...base, env: cloudEnv }).inspector.command).toBeUndefined();
    expect(loadConfig({ ...base, env: { ...cloudEnv, INSPECTOR_COMMAND: 'python3 sample.py {port}' } }).inspector.command).toBe('python3 sample.py {port}');
    expect(loadConfig({ ...base, env: cloudEnv, flags: { inspectorCommand: 'my-inspector --listen {port}' } }).inspector.command).toBe('my-inspector --listen {port}');
    expect(() => loadConfig({ ...base, env: cloudEnv, flags: { inspectorCommand: 'my-inspector' } })).toThrow(/^--inspector-command: must contain \{port\}, where the run puts the port/);
    expect(() => loadConfig({ ...base, env: cloudEnv, flags: { inspectorCommand: 'x {port}', shortcut: true } })).toThrow(/^--inspector-command: the shortcut is the built-in inspector's/);
  });

  it("reads a controller layout over the installer's, names the key that is wrong, and can skip the set-up", () => {
    const files: Record<string, string> = {
      '/work/layout.yaml': 'aodhConf: /etc/kolla/aodh/aodh.conf\nrestart:\n  aodh: docker restart aodh_listener\n',
      '/work/typo.yaml': 'aodhConf: /etc/aodh/aodh.conf\nrestart:\n  aodh-listener: systemctl restart aodh-listener\n',
      '/work/number.yaml': 'novaConf: 42\n',
      '/work/broken.yaml': 'restart: [unclosed\n',
    };
    const readFile = (p: string) => files[p];
    const c = loadConfig({ ...base, readFile, env: cloudEnv, flags: { controllerLayout: 'layout.yaml' } });
    expect(c.controller).toEqual({ setup: true, layout: { aodhConf: '/etc/kolla/aodh/aodh.conf', restart: { aodh: 'docker restart aodh_listener' } } });
    expect(loadConfig({ ...base, env: cloudEnv }).controller).toEqual({ setup: true });
    expect(loadConfig({ ...base, env: cloudEnv, flags: { skipControllerSetup: true } }).controller).toEqual({ setup: false });
    expect(() => loadConfig({ ...base, readFile, env: cloudEnv, flags: { controllerLayout: 'typo.yaml' } })).toThrow(/^controllerLayout: \/work\/typo\.yaml: restart\.aodh-listener is not a known setting \(keys: eventPipeline, .*logs\.aodhListener, profile\.novaApi, profile\.novaConductor, profile\.novaCompute \(each flag and dir\)\)/);
    expect(() => loadConfig({ ...base, readFile, env: cloudEnv, flags: { controllerLayout: 'number.yaml' } })).toThrow(/^controllerLayout: \/work\/number\.yaml: novaConf .*string/);
    expect(() => loadConfig({ ...base, readFile, env: cloudEnv, flags: { controllerLayout: 'broken.yaml' } })).toThrow(/^controllerLayout: \/work\/broken\.yaml is not valid YAML/);
    expect(() => loadConfig({ ...base, readFile, env: cloudEnv, flags: { controllerLayout: 'missing.yaml' } })).toThrow(/^controllerLayout: cannot read \/work\/missing\.yaml/);
  });
});

/** The faults a run can make, as `--fault` takes them. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/shared/index.js';
import { FAULTS, faultLabel, loadConfig, parseFault, powerCommand, runOptions } from '../../src/orchestrator/index.js';

describe('--fault', () => {
  it('takes each fault by its name, with its parameter where it has one', () => {
    expect(parseFault('link-down')).toEqual({ kind: 'link-down' });
    expect(parseFault('icmp-blackhole')).toEqual({ kind: 'icmp-blackhole' });
    expect(parseFault('icmp-loss:30')).toEqual({ kind: 'icmp-loss', percent: 30 });
    expect(parseFault(' icmp-loss:0.5 ')).toEqual({ kind: 'icmp-loss', percent: 0.5 });
    expect(parseFault('icmp-loss:100')).toEqual({ kind: 'icmp-loss', percent: 100 });
    expect(parseFault('freeze')).toEqual({ kind: 'freeze' });
    expect(parseFault('power-off')).toEqual({ kind: 'power-off' });
    expect(parseFault('flap:5x150')).toEqual({ kind: 'flap', count: 5, outageMs: 150 });
    for (const text of ['link-down', 'icmp-blackhole', 'icmp-loss:30', 'icmp-loss:0.5', 'freeze', 'power-off', 'flap:5x150']) expect(faultLabel(parseFault(text))).toBe(text);
  });

  it('refuses anything else, naming the flag, the value and what it takes', () => {
    const refused: Array<[string, RegExp]> = [
      ['', /^--fault: "" is not a fault; the faults are link-down, icmp-blackhole, icmp-loss:P, freeze, power-off, flap:NxD$/],
      ['reboot', /"reboot" is not a fault/],
      ['LINK-DOWN', /"LINK-DOWN" is not a fault/],
      ['icmp-blackhole:1', /icmp-blackhole takes no parameter/],
      ['icmp-loss', /icmp-loss takes the share of ICMP packets to drop/],
      ['icmp-loss:0', /more than 0 and at most 100/],
      ['icmp-loss:101', /more than 0 and at most 100/],
      ['icmp-loss:-5', /more than 0 and at most 100/],
      ['icmp-loss:1e1', /more than 0 and at most 100/],
      ['icmp-loss:30:1', /icmp-loss takes one parameter \(icmp-loss:P\)/],
      ['freeze:10', /freeze takes no parameter/],
      ['flap', /flap takes how many outages and how long each is in ms, NxD/],
      ['flap:5', /NxD with N from 1 to 100 and D from 10 to 60000/],
      ['flap:0x100', /N from 1 to 100/],
      ['flap:101x100', /N from 1 to 100/],
      ['flap:5x5', /D from 10 to 60000/],
      ['flap:5x60001', /D from 10 to 60000/],
    ];
    for (const [text, why] of refused) {
      const err = (() => {
        try {
          parseFault(text);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, text).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field, text).toBe('--fault');
      expect((err as Error).message, text).toMatch(why);
    }
  });

  it('defaults to link-down, and doctor run --help lists every fault', () => {
    const config = loadConfig({ env: {}, flags: {}, readFile: () => undefined, cwd: '/tmp' });
    expect(config.fault).toEqual({ kind: 'link-down' });
    expect(loadConfig({ env: {}, flags: { fault: 'icmp-loss:25' }, readFile: () => undefined, cwd: '/tmp' }).fault).toEqual({ kind: 'icmp-loss', percent: 25 });
    const [flags, help] = runOptions().find(([f]) => f.startsWith('--fault '))!;
    expect(flags).toBe('--fault <name[:param]>');
    for (const f of FAULTS) expect(help).toContain(f.param ? `${f.kind}:${f.param}:` : `${f.kind}:`);
    expect(help).toContain('(default link-down)');
  });

  it('power-off: lab hosts through the fault script, any host through a power driver (both command lines); refused otherwise before anything starts', () => {
    const cloud = { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'admin', OS_PASSWORD: 'secret', OS_PROJECT_NAME: 'admin' };
    const ssh = { sshKey: '/tmp/lab/id', knownHosts: '/tmp/lab/known_hosts' };
    const load = (env: Record<string, string>, flags: Record<string, string>) => loadConfig({ env, flags, readFile: () => undefined, cwd: '/tmp' });
    expect(() => load(cloud, { fault: 'power-off', ...ssh })).toThrow(/^--fault: power-off of a host that is not a lab host needs a power driver: --power-off-command and --power-on-command/);
    expect(load(cloud, { fault: 'power-off', labStateDir: '/tmp/lab', ...ssh }).fault).toEqual({ kind: 'power-off' });
    expect(load({}, { fault: 'power-off' }).power).toBeUndefined();
    const driver = { powerOffCommand: 'ipmitool -H bmc-{host} -f /etc/pass chassis power off', powerOnCommand: 'ipmitool -H bmc-{host} -f /etc/pass chassis power on' };
    expect(load(cloud, { fault: 'power-off', ...ssh, ...driver }).power).toEqual({ off: driver.powerOffCommand, on: driver.powerOnCommand });
    expect(() => load({}, { fault: 'power-off', powerOffCommand: driver.powerOffCommand })).toThrow(/^--power-on-command: a power driver needs both command lines/);
    expect(() => load({}, { fault: 'freeze', ...driver })).toThrow(/^--power-off-command: the power driver makes --fault power-off, not freeze/);
    expect(powerCommand(driver.powerOffCommand, { host: 'compute-1', ip: '192.0.2.7' })).toBe('ipmitool -H bmc-compute-1 -f /etc/pass chassis power off');
    expect(() => powerCommand(driver.powerOffCommand, { host: 'c1; rm -rf /', ip: '192.0.2.7' })).toThrow(/the host "c1; rm -rf \/" has characters the power command line cannot take safely/);
  });
});

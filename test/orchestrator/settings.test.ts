/** The one table of settings: booleans that cannot be mistaken, names that exist, docs that match. */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../src/shared/index.js';
import { loadConfig, SETTINGS, settingsTable, type ConfigSources } from '../../src/orchestrator/index.js';
import { buildProgram } from '../../src/cli/main.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const load = (src: Partial<ConfigSources>) => loadConfig({ env: {}, flags: {}, readFile: () => undefined, cwd: '/w', ...src });
const fromFile = (text: string, env: Record<string, string> = {}) => load({ env, configFile: '/c.yaml', readFile: (p) => (p === '/c.yaml' ? text : undefined) });
const errorOf = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no error');
};

describe('booleans in files and the environment', () => {
  it('a YAML "no" keeps host-key checking on and webhooks delivered', () => {
    const c = fromFile('insecureSkipHostKeyCheck: no\nlabDropWebhooks: no\n');
    expect(c.ssh.insecureSkipHostKeyCheck).toBe(false);
    expect(c.cloud.mode === 'lab' && c.cloud.dropWebhooks).toBe(false);
    for (const [text, want] of [['off', false], ['"0"', false], ['false', false], ['False', false], ['yes', true], ['on', true], ['1', true], ['true', true]] as const) {
      expect(fromFile(`insecureSkipHostKeyCheck: ${text}\n`).ssh.insecureSkipHostKeyCheck, text).toBe(want);
    }
  });

  it('anything else is refused, naming the key', () => {
    for (const text of ['nope', '"yes please"', '2', '""', '[]']) {
      const e = errorOf(() => fromFile(`insecureSkipHostKeyCheck: ${text}\n`));
      expect(e.field).toBe('insecureSkipHostKeyCheck');
      expect(e.message).toMatch(/^insecureSkipHostKeyCheck: must be true\/false, yes\/no, 1\/0 or on\/off \(got .*\) \(from \/c\.yaml\)$/);
    }
    expect(errorOf(() => fromFile('labDropWebhooks: sometimes\n')).field).toBe('labDropWebhooks');
    expect(errorOf(() => load({ env: { CI_DEBUG: 'verbose' } })).message).toMatch(/^CI_DEBUG: must be true\/false/);
    expect(load({ env: { CI_DEBUG: 'off' } }).logLevel).toBe('info');
    expect(load({ env: { CI_DEBUG: 'yes' } }).logLevel).toBe('debug');
  });
});

describe('every error names a flag, variable or key that exists', () => {
  it('names the real flag from the command line and the variable from the environment', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ faultDurationS: '0' }, /^--fault-duration: /],
      [{ imageName: '' }, /^--image: /],
      [{ activeTimeoutS: '-1' }, /^--active-timeout: /],
      [{ notifyTimeoutS: 'soon' }, /^--notify-timeout: /],
      [{ installerType: 'openshift' }, /^--installer: /],
      [{ inspectorPort: '70000' }, /^--inspector-port: /],
    ];
    for (const [flags, want] of cases) expect(errorOf(() => load({ flags })).message).toMatch(want);
    expect(errorOf(() => load({ env: { INSTALLER_TYPE: 'openshift' } })).message).toMatch(/^INSTALLER_TYPE: .*\(from the environment\)/);
    expect(errorOf(() => load({ env: { IMAGE_NAME: ' ', VM_COUNT: 'x' } })).message).toMatch(/^VM_COUNT: /);
    expect(errorOf(() => fromFile('faultDurationS: 0\n')).message).toMatch(/^faultDurationS: .*\(from \/c\.yaml\)/);
  });

  it('every --flag a message of src/ names is an option of a doctor command', () => {
    const known = new Set<string>();
    const walk = (c: Command) => {
      for (const o of c.options) if (o.long) known.add(o.long);
      for (const o of c.options) if (o.negate && o.long) known.add(o.long.replace(/^--no-/, '--'));
      c.commands.forEach(walk);
    };
    walk(buildProgram());
    const named = new Map<string, string>();
    const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
    for (const file of files(join(ROOT, 'src'))) {
      // Flags inside string literals and templates (not the arguments of services the lab starts).
      const text = readFileSync(file, 'utf8');
      for (const lit of text.match(/(['`])(?:(?!\1)[^\\\n]|\\.)*\1/g) ?? []) {
        for (const m of lit.matchAll(/(?<![\w-])--[a-z][a-z-]*[a-z]/g)) if (!/^--(?:config-file|config-dir|max-warnings)/.test(m[0])) named.set(m[0], file);
      }
    }
    const external = /lab\/openstack\/|lab\/hosts\/|profiler\/osprofiler\.ts|shared\/process\.ts|installers\/mcp\.ts/; // command lines of other tools (uwsgi, ip, osprofiler, salt)
    const unknown = [...named].filter(([flag, file]) => !known.has(flag) && !external.test(file));
    expect(unknown, 'flags named in messages that no doctor command has').toEqual([]);
  });

  it('the settings table and `doctor run --help` agree', () => {
    const run = buildProgram().commands.find((c) => c.name() === 'run')!;
    const longs = run.options.map((o) => o.long);
    for (const s of SETTINGS.filter((x) => x.flag)) expect(longs).toContain(`--${s.flag}`);
    expect(longs).toContain('--config');
  });
});

describe('the README', () => {
  it('holds the configuration table the settings table renders (npm run docs rewrites it)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('| flag | environment | config key |');
    expect(start, 'README.md has no configuration table').toBeGreaterThan(0);
    expect(readme.slice(start, readme.indexOf('\n\n', start))).toBe(settingsTable());
  });
});

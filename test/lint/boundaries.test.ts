/** The import boundaries npm run lint enforces: the rules hold on src/, and each one catches what it forbids. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

/** The rule names depcruise reports for the tree at `cwd`. */
function violations(cwd: string): string[] {
  const r = spawnSync(DEPCRUISE, ['src', '--config', CONFIG, '--output-type', 'json'], { cwd, encoding: 'utf8' });
  const out = JSON.parse(r.stdout) as { summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> } };
  return out.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

describe('import boundaries', () => {
  let tree: string;
  const file = (path: string, text: string) => {
    mkdirSync(dirname(join(tree, path)), { recursive: true });
    writeFileSync(join(tree, path), text);
  };

  beforeAll(() => {
    tree = mkdtempSync(join(tmpdir(), 'doctor-boundaries-'));
    file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }));
    file('package.json', '{"type":"module"}');
    for (const c of ['shared', 'lab', 'monitor', 'inspector', 'consumer', 'openstack', 'orchestrator']) file(`src/${c}/index.ts`, 'export const x = 1;\n');
    file('src/lab/hosts/lab.ts', 'export const lab = 1;\n');
    file('src/lab/hosts/index.ts', "export { lab } from './lab.js';\n");
    file('src/shared/errors.ts', 'export const e = 1;\n');
    // One violation of each rule.
    file('src/orchestrator/deep.ts', "import { lab } from '../lab/hosts/lab.js';\nexport const y = lab;\n");
    // Allowed: a part's index (the light way in: the CLI loads only what a command uses).
    file('src/orchestrator/part.ts', "import { lab } from '../lab/hosts/index.js';\nexport const y = lab;\n");
    file('src/openstack/scenario.ts', "import { x } from '../orchestrator/index.js';\nexport const y = x;\n");
    file('src/consumer/lab.ts', "import { x } from '../lab/index.js';\nexport const y = x;\n");
    file('src/monitor/inspect.ts', "import { x } from '../inspector/index.js';\nexport const y = x;\n");
    file('src/shared/up.ts', "import { x } from '../openstack/index.js';\nexport const y = x;\n");
    file('src/inspector/a.ts', "import { b } from './b.js';\nexport const a = b;\n");
    file('src/inspector/b.ts', "import { a } from './a.js';\nexport const b = a;\n");
  });
  afterAll(() => rmSync(tree, { recursive: true, force: true }));

  it('hold on src/', () => {
    expect(violations(ROOT)).toEqual([]);
  });

  it('catch a deep import (not a part\'s index), the client importing the scenario, a service importing the lab, the monitor importing the inspector, shared importing up, a cycle', () => {
    const found = violations(tree);
    expect(found).toEqual(expect.arrayContaining([
      'only-through-index: src/orchestrator/deep.ts → src/lab/hosts/lab.ts',
      'openstack-is-a-client: src/openstack/scenario.ts → src/orchestrator/index.ts',
      'services-know-no-lab: src/consumer/lab.ts → src/lab/index.ts',
      'monitor-and-inspector-apart: src/monitor/inspect.ts → src/inspector/index.ts',
      'shared-is-the-bottom: src/shared/up.ts → src/openstack/index.ts',
    ]));
    expect(found.some((v) => v.startsWith('no-circular: src/inspector/'))).toBe(true);
    expect(found.filter((v) => v.includes('src/orchestrator/part.ts'))).toEqual([]);
  });

  it('run as part of npm run lint', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['lint']).toMatch(/depcruise src --config \.dependency-cruiser\.cjs/);
  });
});

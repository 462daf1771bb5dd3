/** The simulated cloud's Python text formats, checked against Python itself (Debian's python3). */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pyJsonDumps } from '../../src/lab/cloud/format.js';

const PYTHON = '/usr/bin/python3';

/** Python's json.dumps(value, sort_keys=…) with its other defaults, as Aodh calls it. */
function pythonDumps(values: unknown[], sortKeys: boolean): string[] {
  const script = `import json, sys\nprint(json.dumps([json.dumps(v, sort_keys=${sortKeys ? 'True' : 'False'}) for v in json.load(sys.stdin)]))`;
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(values), encoding: 'utf8' })) as string[];
}

describe('pyJsonDumps', () => {
  // What Aodh writes into alarm reasons and history: queries, traits, details, with text a user may give
  // (VM names, descriptions) in any script, control characters, quotes and a character beyond the BMP.
  const values: unknown[] = [
    [{ field: 'traits.state', op: 'eq', type: 'string', value: 'error' }, { field: 'traits.instance_id', op: 'eq', type: '', value: 'b1f2' }],
    [['display_name', 1, 'réseau-vm ☃ 東京'], ['memory_mb', 2, 64], ['launched_at', 4, '2026-12-07T12:00:00']],
    { z: 'last', a: { nested: [1, 2.5, -3, true, false, null] }, m: 'tab\there, quote " and backslash \\ and DEL \u007f' },
    { description: 'newline\nand bell \u0007 and emoji 🚑', empty: {}, list: [] },
    'a bare string ü',
    42,
  ];

  it('writes what Python\'s json.dumps writes, keys in their order and sorted', () => {
    expect(values.map((v) => pyJsonDumps(v))).toEqual(pythonDumps(values, false));
    expect(values.map((v) => pyJsonDumps(v, true))).toEqual(pythonDumps(values, true));
  });
});

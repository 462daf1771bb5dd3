/** The fault matrix, reduced for CI (npm run chaos runs the full one): every case leaves nothing behind. Needs root. */
import { describe, expect, it } from 'vitest';
import { runMatrix } from './matrix.js';

describe('the fault matrix (reduced)', () => {
  it('cloud, SSH and process faults: no leftover in the cloud, on the hosts or in the ledgers, no crash', async () => {
    const report = await runMatrix({ reduced: true, log: (l) => console.log(l) });
    console.log(`chaos: seed ${report.seed}, ${report.cases} cases, ${report.runs} runs, ${report.leftovers} leftovers, ${report.crashes} crashes`);
    expect(report.results.filter((r) => r.leftovers.length).map((r) => `${r.where}: ${r.name}: ${r.leftovers.join('; ')}`)).toEqual([]);
    expect(report.crashes).toBe(0);
    expect(report.runs).toBe(19); // 6 cloud, 4 SSH, 6 process faults on a simulated cloud, 3 on the embedded lab
  }, 900_000);
});

/**
 * The HTML report: one self-contained file, opened in headless Chromium (Debian's
 * `chromium`, installed by ./scripts/setup --chromium): the rendered page has an
 * SVG timeline per VM with its checkpoints, and the component table; a
 * screenshot is taken. Needs root for the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunResults } from '../../src/orchestrator/index.js';
import { abortRuns, trackedRun as runFaultManagement } from '../helpers/runs.js';
import { runReport } from '../../src/cli/report.js';

const chromium = (args: string[]) => execFileSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions', ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });

describe('the HTML report', () => {
  let work: string;
  let r: RunResults;
  let html: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'doctor-html-'));
    const config = loadConfig({ env: {}, readFile: () => undefined, cwd: work, flags: { vmCount: 3, inspectorPort: 0, consumerPort: 0, faultDurationS: 2, resultsDir: join(work, 'results'), labLatency: 'notify=10,transform=20,evaluate=5,fire=2,deliver=3' } });
    r = await runFaultManagement(config, { signal: new AbortController().signal, progress: () => {}, ledgerDir: join(work, 'ledgers') });
    html = join(work, 'results', r.runId, 'report.html');
  }, 60_000);
  afterAll(async () => {
    await abortRuns();
    rmSync(work, { recursive: true, force: true });
  });

  it('is one file that loads nothing from anywhere', () => {
    expect(r.verdict, r.reason).toBe('PASS');
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/<script|<link|src=|@import|url\(/i);
    const again: string[] = [];
    runReport(join(work, 'results', r.runId, 'results.json'), 'html', (l) => again.push(l));
    expect(again.join('\n')).toBe(text.trimEnd());
  });

  it('renders in headless Chromium: an SVG timeline per VM with all eleven checkpoints, and the component table', () => {
    const dom = chromium(['--dump-dom', `file://${html}`]);
    const svgs = dom.match(/<svg[^>]*class="timeline"[^>]*>[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(3);
    for (const svg of svgs) expect(svg.match(/<circle class="checkpoint"/g)).toHaveLength(11);
    expect(svgs[0]).toContain(`data-vm="${r.profile!.slowest}"`); // the slowest first
    expect(dom).toContain('10 handled alarm');
    const tables = dom.match(/<table class="components">[\s\S]*?<\/table>/g) ?? [];
    expect(tables).toHaveLength(3);
    expect(tables[0]!.match(/<tr>/g)!.length).toBe(1 + 6 + 1); // header, six components, total
    expect(dom).toContain('<span class="verdict PASS">PASS</span>');

    const shot = join(work, 'report.png');
    chromium([`--screenshot=${shot}`, '--window-size=1000,1400', '--hide-scrollbars', `file://${html}`]);
    expect(existsSync(shot)).toBe(true);
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1000); // width from the IHDR chunk
    expect(statSync(shot).size).toBeGreaterThan(20_000); // a rendered page, not a blank one
  }, 120_000);
});

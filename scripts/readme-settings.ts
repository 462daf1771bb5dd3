/** Rewrites the README's configuration table from the settings table (npm run docs). */
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsTable } from '../src/orchestrator/settings/index.js';

const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const start = readme.indexOf('| flag | environment | config key |');
if (start < 0) throw new Error('README.md has no configuration table (a line starting "| flag | environment | config key |")');
const end = readme.indexOf('\n\n', start);
writeFileSync(path, `${readme.slice(0, start)}${settingsTable()}${readme.slice(end)}`);

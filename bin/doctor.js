#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build`.
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('doctor: the harness is not built yet. Run `npm install && npm run build` (or ./scripts/test) first.');
    process.exit(2);
  }
  throw err;
});

#!/usr/bin/env node
// Runs the CLI compiled at install (dist/cli.js, built by `npm install` or
// `npm run build`) when it was built from the sources as they are now;
// otherwise (no dist/, or a .ts edited since) the TypeScript itself through
// tsx: slower to start, same behaviour, never stale code.
const { cliCurrent } = require('../scripts/build-stamp.cjs');
process.env.PG2CH_CLI_MAIN = '1';
if (process.env.PG2CH_FROM_SOURCE !== '1' && cliCurrent()) {
  require('../dist/cli.js');
} else {
  require('tsx/cjs');
  // The commands load their code with import(), which goes through Node's ESM
  // loader: tsx must hook that one too, or a .ts without extension is not found.
  require('tsx/esm/api').register();
  require('../client/cli.ts');
}

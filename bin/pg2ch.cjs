#!/usr/bin/env node
// Runs the TypeScript CLI directly: no build step between a clone and `npx pg2ch`.
require('tsx/cjs');
process.env.PG2CH_CLI_MAIN = '1';
require('../client/cli.ts');

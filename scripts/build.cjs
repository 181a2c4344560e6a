'use strict';
// Builds dist/ at install (npm's `prepare`) and before the tests: the CLI as
// compiled JavaScript (dist/cli.js) and the workflow bundle
// (dist/workflow-bundle.js), each with a stamp of the sources it was built
// from (scripts/build-stamp.cjs). Skips what is already current; --force
// rebuilds. Plain JavaScript so it needs nothing compiled to run.
//
// dist/ is one directory deep like client/, worker/ and devstack/, so code
// that finds files from __dirname ('..', '.tools', 'workflows') finds the
// same ones when bundled into dist/*.js.
const { renameSync, writeFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');
const stamps = require('./build-stamp.cjs');

const force = process.argv.includes('--force');
const quiet = process.argv.includes('--quiet');
const say = (line) => quiet || process.stdout.write(`pg2ch build: ${line}\n`);

/** Writes next to the target, then renames: a CLI starting meanwhile sees the old file or the new one, never half of one. */
function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

async function buildCli() {
  if (!force && stamps.cliCurrent()) return say('dist/cli.js is current');
  // Taken before compiling: a source edited during the build leaves it stale, not falsely current.
  const stamp = stamps.sourceStamp(stamps.CLI_SOURCES);
  const t0 = Date.now();
  const esbuild = require('esbuild');
  await esbuild.build({
    entryPoints: { cli: join(stamps.ROOT, 'client', 'cli.ts') },
    outdir: stamps.DIST,
    bundle: true,
    // Packages load from node_modules as they do under tsx (native addons, the SDK's own files).
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // Error classes keep their names, as they have them under tsx.
    keepNames: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  writeAtomic(stamps.CLI_STAMP, stamp + '\n');
  say(`dist/cli.js in ${Date.now() - t0} ms`);
}

async function buildWorkflowBundle() {
  if (!force && stamps.workflowBundleCurrent()) return say('dist/workflow-bundle.js is current');
  const stamp = stamps.sourceStamp(stamps.WORKFLOW_SOURCES);
  const t0 = Date.now();
  const { bundleWorkflowCode } = require('@temporalio/worker');
  const noop = () => {};
  const { code } = await bundleWorkflowCode({
    workflowsPath: stamps.WORKFLOWS_PATH,
    logger: { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop },
  });
  writeAtomic(stamps.WORKFLOW_BUNDLE, code);
  writeAtomic(stamps.WORKFLOW_STAMP, stamp + '\n');
  say(`dist/workflow-bundle.js (${code.length} bytes) in ${Date.now() - t0} ms`);
}

async function main() {
  mkdirSync(stamps.DIST, { recursive: true });
  await buildCli();
  await buildWorkflowBundle();
}

main().catch((err) => {
  process.stderr.write(`pg2ch build failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});

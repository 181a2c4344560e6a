'use strict';
// What dist/ was built from: a hash of the size and mtime of every source file
// it depends on, cheap enough (a few ms of stat calls) for every CLI start to
// check, so an edited .ts never runs as stale compiled code. Plain JavaScript:
// bin/pg2ch.cjs reads it before anything is compiled.
const { createHash } = require('node:crypto');
const { readdirSync, readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist');
/** The workflows' entry point, bundled by webpack (at install, or by a worker when the bundle is stale). */
const WORKFLOWS_PATH = join(ROOT, 'workflows', 'index.ts');

/** Everything the compiled CLI is built from (client/cli.ts imports across these). */
const CLI_SOURCES = ['client', 'core', 'workflows', 'activities', 'worker', 'devstack', 'package.json', 'scripts/build.cjs', 'scripts/build-stamp.cjs'];
/**
 * Everything webpack puts in the workflow bundle: workflow code imports only
 * workflows/ and core/ (activities/ for types, which leave no code), plus the
 * SDK's workflow runtime.
 */
const WORKFLOW_SOURCES = ['workflows', 'core', 'node_modules/@temporalio/workflow/package.json', 'node_modules/@temporalio/common/package.json', 'scripts/build-stamp.cjs'];

function collect(root, rel, out) {
  const abs = join(root, rel);
  let st;
  try {
    st = statSync(abs);
  } catch {
    out.push(`${rel}:missing`);
    return;
  }
  if (!st.isDirectory()) {
    out.push(`${rel}:${st.size}:${st.mtimeMs}`);
    return;
  }
  for (const name of readdirSync(abs).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    collect(root, `${rel}/${name}`, out);
  }
}

/** The stamp of a set of paths (files or directories, relative to root). */
function sourceStamp(paths, root = ROOT) {
  const entries = [];
  for (const p of paths) collect(root, p, entries);
  return createHash('sha256').update(entries.join('\n')).digest('hex').slice(0, 20);
}

function readStamp(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const CLI_STAMP = join(DIST, 'cli.stamp');
const WORKFLOW_BUNDLE = join(DIST, 'workflow-bundle.js');
const WORKFLOW_STAMP = join(DIST, 'workflow-bundle.stamp');

/** Whether dist/cli.js was built from the sources as they are now. */
function cliCurrent(root = ROOT) {
  const stamp = readStamp(join(root, 'dist', 'cli.stamp'));
  return stamp !== undefined && stamp === sourceStamp(CLI_SOURCES, root);
}

/** Whether dist/workflow-bundle.js was built from the workflow code as it is now. */
function workflowBundleCurrent(root = ROOT) {
  const stamp = readStamp(join(root, 'dist', 'workflow-bundle.stamp'));
  return stamp !== undefined && stamp === sourceStamp(WORKFLOW_SOURCES, root);
}

module.exports = { ROOT, DIST, WORKFLOWS_PATH, CLI_SOURCES, WORKFLOW_SOURCES, CLI_STAMP, WORKFLOW_BUNDLE, WORKFLOW_STAMP, sourceStamp, cliCurrent, workflowBundleCurrent };

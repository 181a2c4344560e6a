import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ROOT, WORKFLOWS_PATH, workflowBundleCurrent } from '../scripts/build-stamp.cjs';

export { WORKFLOWS_PATH };

/** What Worker.create takes: a file the workflow threads read, or the code itself. */
export type WorkflowBundleOption = { codePath: string } | { code: string };

export interface LoadedBundle {
  bundle: WorkflowBundleOption;
  /** Where the workflow code came from, for the worker's start line. */
  source: string;
}

/** webpack, now: for the install-time build, and a worker whose bundle is stale. */
export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
}

/**
 * The workflow bundle a worker runs: PG2CH_WORKFLOW_BUNDLE if set, else the
 * one built at install (dist/workflow-bundle.js), which loads without webpack
 * and its memory. A bundle built from other workflow code than what is here
 * now would run code that replays differently from what the source says, so
 * a stale (or missing) one is never used: the workflows are bundled afresh,
 * with one line saying so.
 */
export async function loadWorkflowBundle(env: NodeJS.ProcessEnv, warn: (line: string) => void, root = ROOT): Promise<LoadedBundle> {
  const path = env.PG2CH_WORKFLOW_BUNDLE;
  if (path) return { bundle: { codePath: path }, source: `${path} (PG2CH_WORKFLOW_BUNDLE)` };
  const built = join(root, 'dist', 'workflow-bundle.js');
  if (workflowBundleCurrent(root)) return { bundle: { codePath: built }, source: 'dist/workflow-bundle.js (built at install)' };
  const why = existsSync(built) ? 'the workflow code changed since dist/workflow-bundle.js was built' : 'there is no dist/workflow-bundle.js';
  warn(`pg2ch worker: ${why}; bundling the workflows now with webpack (npm run build makes the bundle ahead of time)`);
  return { bundle: await bundleWorkflows(), source: 'bundled at start (webpack)' };
}

const noop = () => {};
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

export const WORKFLOWS_PATH = join(__dirname, '..', 'workflows', 'index.ts');

/**
 * A prebuilt bundle (PG2CH_WORKFLOW_BUNDLE, written by `npm run build:bundle`
 * or the test setup) skips webpack at worker start; otherwise bundle now.
 */
export async function loadWorkflowBundle(path = process.env.PG2CH_WORKFLOW_BUNDLE): Promise<{ code: string }> {
  if (path) return { code: readFileSync(path, 'utf8') };
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
}

const noop = () => {};
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { services } from '../support/harness';
import { loadHistory } from '../support/history';

// Histories recorded from real runs of released workflow code (sync with
// several chunks after a backfill, a backfill and one of its partitions, a
// verify). Workflows outlive worker versions: today's code must replay each
// of them without a nondeterminism error, so a change to workflow code that
// would break running workflows fails here (use patched() for such changes).
// To record more: run the workflow and `temporal workflow show --workflow-id
// ID --output json > test/replay/histories/NAME.json`.
const DIR = join(__dirname, '..', 'replay', 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('recorded workflow histories replay on the current workflow code', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  it.each(files)('%s', async (file) => {
    const history = loadHistory(join(DIR, file));
    await Worker.runReplayHistory({ workflowBundle: { code: readFileSync(services().workflowBundlePath, 'utf8') } }, history);
  });
});

import type { Client } from '@temporalio/client';
import type { TemporalConfig } from '../../core/config';
import { UserError } from '../../core/errors';
import { parseTableName, tableKey } from '../../core/table-name';
import { DEFAULT_CHUNK_ROWS, syncTable, syncWorkflowId, type SyncResult } from '../../workflows/sync-table';
import { failureMessage } from '../failure-message';
import { pollerCount } from '../temporal-client';

export { syncWorkflowId };

export interface SyncOptions {
  once: boolean;
  chunkRows?: number;
}

export async function startSync(
  client: Client,
  temporal: TemporalConfig,
  table: string,
  opts: SyncOptions,
  out: (line: string) => void,
): Promise<SyncResult | undefined> {
  let key: string;
  try {
    key = tableKey(parseTableName(table));
  } catch (e) {
    throw new UserError((e as Error).message, 'BadTableName');
  }
  const workflowId = syncWorkflowId(key);
  const handle = await client.workflow.start(syncTable, {
    workflowId,
    taskQueue: temporal.taskQueue,
    args: [{ table: key, chunkRows: opts.chunkRows ?? DEFAULT_CHUNK_ROWS }],
    // A sync of this table already running is joined, never doubled.
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  const attached = handle.firstExecutionRunId;
  out(`workflow ${workflowId} (run ${attached}) on task queue ${temporal.taskQueue}`);
  if ((await pollerCount(client, temporal).catch(() => 1)) === 0) {
    out(`warning: no worker is polling task queue ${temporal.taskQueue}; start one with: pg2ch worker`);
  }
  if (!opts.once) return undefined;
  try {
    return await handle.result();
  } catch (err) {
    throw new UserError(`sync of ${key} failed: ${failureMessage(err)}`, 'SyncFailed');
  }
}

export function formatResult(r: SyncResult): string {
  const secs = (r.elapsedMs / 1000).toFixed(1);
  const rate = r.elapsedMs > 0 ? Math.round((r.rows * 1000) / r.elapsedMs) : 0;
  const skipped = r.skippedChunks ? `, ${r.skippedChunks} already present` : '';
  return `synced ${r.table}: ${r.rows} rows copied in ${r.chunks} chunks${skipped}, last id ${r.lastId ?? 'none'}, ${secs} s (${rate} rows/s)`;
}

import type { Client } from '@temporalio/client';
import { ConfigError, type TemporalConfig } from '../../core/config';
import { UserError } from '../../core/errors';
import { cursorBoundsError } from '../../core/ranges';
import { syncWorkflowId } from '../../core/workflow-ids';
import { backfillTable, DEFAULT_PARALLEL, DEFAULT_PARTITIONS, type BackfillInput, type BackfillResult } from '../../workflows/backfill';
import { tableSearchAttributes } from '../../workflows/search-attributes';
import { DEFAULT_CHUNK_ROWS } from '../../workflows/sync-table';
import { failureMessage } from '../failure-message';
import { followProgress, throughput, type ProgressMode } from '../progress-view';
import { ensureSearchAttributes } from '../search-attributes';
import { assertHolder, keyOf, warnIfNoWorker } from './sync';

export type BackfillOptions = Omit<BackfillInput, 'table' | 'indexed'> & {
  /** Return at once instead of following the backfill to its end. */
  detach?: boolean;
  progress?: ProgressMode;
};

/** Checks the options before anything starts: a typo must not start a backfill of the whole table. */
export function backfillInput(table: string, o: BackfillOptions): BackfillInput {
  const key = keyOf(table);
  const byId = o.fromId !== undefined || o.toId !== undefined;
  const byTime = o.since !== undefined || o.until !== undefined;
  if (byId && byTime) throw new ConfigError('give either --from-id/--to-id or --since/--until, not both');
  const bad = cursorBoundsError(o.fromId, o.toId);
  if (bad) throw new ConfigError(bad);
  for (const [name, v] of [['--since', o.since], ['--until', o.until]] as const) {
    if (v !== undefined && (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(Date.parse(v)))) {
      throw new ConfigError(`${name} must be an ISO date or time such as 2026-01-31 or 2026-01-31T12:00:00Z, got ${JSON.stringify(v)}`);
    }
  }
  if (o.since && o.until && Date.parse(o.since) >= Date.parse(o.until)) throw new ConfigError(`--since ${o.since} is not before --until ${o.until}`);
  if (o.timeColumn !== undefined && !byTime) throw new ConfigError('--time-column applies only with --since/--until');
  return {
    table: key,
    fromId: o.fromId,
    toId: o.toId,
    since: o.since,
    until: o.until,
    timeColumn: o.timeColumn,
    partitions: o.partitions ?? DEFAULT_PARTITIONS,
    parallel: o.parallel ?? DEFAULT_PARALLEL,
    chunkRows: o.chunkRows ?? o.settings?.chunkRows ?? DEFAULT_CHUNK_ROWS,
    ...(o.settings ? { settings: o.settings } : {}),
  };
}

function describeRange(i: BackfillInput): string {
  if (i.since || i.until) return `rows with ${i.timeColumn ?? 'created_at'} in [${i.since ?? 'start'}, ${i.until ?? 'now'})`;
  if (i.fromId || i.toId) return `ids ${i.fromId ?? 'start'} to ${i.toId ?? 'end'}`;
  return 'the whole table';
}

/**
 * Starts backfill:<table> under the table's sync id (the incremental sync
 * waits while it runs), or joins the same backfill already running.
 */
export async function startBackfill(
  client: Client,
  temporal: TemporalConfig,
  table: string,
  o: BackfillOptions,
  out: (line: string) => void,
  warn: (line: string) => void = out,
): Promise<BackfillResult | undefined> {
  const input = backfillInput(table, o);
  const key = input.table;
  input.indexed = await ensureSearchAttributes(client, temporal.namespace, warn);
  const handle = await client.workflow.start(backfillTable, {
    workflowId: syncWorkflowId(key),
    taskQueue: temporal.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `Backfill of ${key}: ${describeRange(input)}, ${input.partitions} partitions, ${input.parallel} at once`,
    staticDetails: `Copies ${describeRange(input)} of PostgreSQL table ${key} into ClickHouse in ${input.partitions} partitions (child workflows backfill:${key}:...). The incremental sync of ${key} waits while it runs and then jumps over what it copied.`,
    memo: { table: key, kind: 'backfill' },
    ...tableSearchAttributes(key, input.indexed),
  });
  await assertHolder(handle, key, 'backfillTable');
  warn(`backfill workflow ${handle.workflowId} (run ${handle.firstExecutionRunId}) on task queue ${temporal.taskQueue}`);
  await warnIfNoWorker(client, temporal, warn);
  if (o.detach) return undefined;
  try {
    return await followProgress(handle, handle.result(), o.progress ?? 'plain', out);
  } catch (err) {
    throw new UserError(`backfill of ${key} failed: ${failureMessage(err)}`, 'BackfillFailed');
  }
}

export function formatBackfill(r: BackfillResult): string {
  const range = r.range ? `(${r.range.afterId ?? 'start'}, ${r.range.toId}]` : 'no rows';
  const skipped = r.skipped.length ? `; already in ClickHouse and skipped: ${r.skipped.map((s) => `(${s.afterId ?? 'start'}, ${s.toId}]`).join(', ')}` : '';
  const present = r.skippedChunks ? `, ${r.skippedChunks} chunks already present` : '';
  return `backfilled ${r.table} ${range}: ${r.rows} rows copied in ${r.partitions} partitions, ${r.chunks} chunks${present}, ${throughput(r.rows, r.elapsedMs)}${skipped}`;
}

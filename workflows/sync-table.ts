import {
  continueAsNew,
  ParentClosePolicy,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertMemo,
} from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { TableSettings } from '../core/table-settings';
import { syncWorkflowId } from '../core/workflow-ids';
import { prepareTable, recheckLate } from './activity-proxies';
import { copyChunks } from './chunk-loop';
import { childProgressSignal, detailsMarkdown, newTotals, parentReporter, progressOf, progressQuery, type CopyTotals, type Live, type Stage } from './progress';
import { tableSearchAttributes } from './search-attributes';

export { syncWorkflowId, progressQuery };

/** One object is the workflow's input and its continue-as-new state. */
export interface SyncTableInput {
  /** `table` or `schema.table` in PostgreSQL. */
  table: string;
  chunkRows?: number;
  /** The table's settings from the config file (cursor, mode, engine, types...): names and choices, no secrets. */
  settings?: TableSettings;
  /** The Pg2chTable search attribute exists on this server: children get it too. */
  indexed?: boolean;
  /** Totals carried across continue-as-new; absent on the first run. */
  totals?: CopyTotals;
}

export type SyncTotals = CopyTotals;
export type SyncResult = CopyTotals & { table: string; elapsedMs: number };

export const DEFAULT_CHUNK_ROWS = 500_000;

/** The incremental sync: every row past the watermark, chunk by chunk, until caught up. */
export async function syncTable(input: SyncTableInput): Promise<SyncResult> {
  const chunkRows = input.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const totals = input.totals ?? newTotals(Date.now());
  const live: Live = { stage: 'prepare', currentRange: null, movedAt: Date.now() };
  const progress = () => progressOf('sync', input.table, totals, live, Date.now());
  setHandler(progressQuery, progress);

  const report = parentReporter(totals);
  const { plan, watermark, startAfter, covered, pendingRows, rechecks } = await prepareTable({ table: input.table, settings: input.settings });
  totals.expectedRows ??= pendingRows;
  if (rechecks > 0) {
    // Rows that committed after the watermark passed them, found once the transactions that held them ended.
    const late = await recheckLate({ plan });
    totals.rows += late.copied;
    totals.lateRows = (totals.lateRows ?? 0) + late.copied;
  }
  setCurrentDetails(detailsMarkdown(progress()));
  let more: boolean;
  let cutTo: number;
  try {
    ({ more, chunkRows: cutTo } = await copyChunks({
      plan,
      from: startAfter,
      chunkRows,
      checkEveryChunk: false,
      covered,
      totals,
      live,
      onCheckpoint: () => {
        setCurrentDetails(detailsMarkdown(progress()));
        report();
      },
    }));
  } catch (err) {
    // The source's columns changed under the run: a new run plans again,
    // adding new columns to ClickHouse or stopping on dropped ones.
    if (isSourceChanged(err)) await continueAsNew<typeof syncTable>({ ...input, chunkRows, totals });
    throw err;
  }
  // A chunk size cut for ClickHouse's limits stays cut in the next run.
  if (more) await continueAsNew<typeof syncTable>({ ...input, chunkRows: cutTo, totals });
  if (totals.lastId === null) totals.lastId = watermark;
  const result = { ...totals, table: plan.key, elapsedMs: Date.now() - totals.startedAt };
  upsertMemo({ rows: result.rows, chunks: result.chunks, lastId: result.lastId, elapsedMs: result.elapsedMs });
  setCurrentDetails(detailsMarkdown(progress()));
  return result;
}

function isSourceChanged(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'SourceChanged';
}

export type ScheduledSyncResult = SyncResult | { table: string; skipped: string };

/**
 * What a schedule starts. Temporal gives scheduled workflows ids of their own
 * (scheduled:t-<time>), so the sync itself is started as a child under the
 * fixed id sync:<table>: if a sync or a backfill of the table is running
 * already, this run is skipped instead of doubling it.
 */
export async function scheduledSync(input: SyncTableInput): Promise<ScheduledSyncResult> {
  // The sync's own progress, as it reports it after its checkpoints.
  let child: CopyTotals = newTotals(Date.now());
  let stage: Stage = 'prepare';
  setHandler(progressQuery, () => progressOf('sync', input.table, child, { stage, currentRange: null }, Date.now()));
  setHandler(childProgressSignal, ({ totals }) => {
    child = totals;
    stage = 'insertBatch';
  });
  try {
    const handle = await startChild(syncTable, {
      workflowId: syncWorkflowId(input.table),
      args: [input],
      // The sync finishes even if this wrapper is terminated.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `Incremental sync of ${input.table} (scheduled)`,
      ...tableSearchAttributes(input.table, input.indexed),
    });
    const result = await handle.result();
    child = result;
    stage = 'done';
    return result;
  } catch (err) {
    stage = 'done';
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { table: input.table, skipped: `a sync or backfill of ${input.table} is already running` };
    }
    throw err;
  }
}

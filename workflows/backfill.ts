import {
  ApplicationFailure,
  continueAsNew,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertMemo,
} from '@temporalio/workflow';
import type { CursorRange, Partition } from '../core/ranges';
import type { TablePlan } from '../core/types';
import { backfillPartitionId } from '../core/workflow-ids';
import { planBackfill, prepareTable } from './activity-proxies';
import type { TableSettings } from '../core/table-settings';
import { copyChunks } from './chunk-loop';
import { childProgressSignal, detailsMarkdown, newTotals, parentReporter, progressOf, progressQuery, type CopyTotals, type Live, type Progress, type Stage } from './progress';
import { tableSearchAttributes } from './search-attributes';
import { DEFAULT_CHUNK_ROWS } from './sync-table';
import { DEFAULT_PARALLEL, DEFAULT_PARTITIONS } from '../core/options';

export { DEFAULT_PARALLEL, DEFAULT_PARTITIONS };

/** One object is the workflow's input; a backfill never continues-as-new (its partitions do). */
export interface BackfillInput {
  table: string;
  /** Inclusive cursor bounds; default: the whole table as it is at the start. */
  fromId?: string;
  toId?: string;
  /** ISO times selecting rows by `timeColumn` (default created_at) in [since, until). */
  since?: string;
  until?: string;
  timeColumn?: string;
  partitions?: number;
  /** Child workflows copying at once. */
  parallel?: number;
  chunkRows?: number;
  indexed?: boolean;
  /** The table's settings from the config file. */
  settings?: TableSettings;
}

export interface BackfillResult {
  table: string;
  /** The requested range as a cursor range (afterId, toId]; null when it held no rows. */
  range: CursorRange | null;
  /** Parts of the range found in ClickHouse already and not copied. */
  skipped: CursorRange[];
  partitions: number;
  rows: number;
  chunks: number;
  skippedChunks: number;
  elapsedMs: number;
}

export interface PartitionInput {
  table: string;
  plan: TablePlan;
  partition: Partition;
  /** 1-based, for people: "partition 2 of 4". */
  index: number;
  of: number;
  chunkRows: number;
  totals?: CopyTotals;
}

export type PartitionResult = CopyTotals & { elapsedMs: number };


/**
 * A backfill of a cursor range: split into partitions sized from PostgreSQL's
 * statistics, each copied by a child workflow through the same chunk stages,
 * at most `parallel` at once. It runs under the table's sync id, so the
 * incremental sync never copies beside it. Every chunk it copies is recorded
 * in sync_control under the partition's id: a backfill started again skips
 * what is recorded, and the incremental sync jumps over it.
 */
export async function backfillTable(input: BackfillInput): Promise<BackfillResult> {
  const startedAt = Date.now();
  const parallel = input.parallel ?? DEFAULT_PARALLEL;
  const chunkRows = input.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const reports = new Map<string, CopyTotals>();
  const finished = new Set<string>();
  let running = 0;
  let partitions: Partition[] = [];
  let stage: Stage = 'prepare';

  const progress = (): Progress => {
    const sum = newTotals(startedAt);
    for (const t of reports.values()) {
      sum.rows += t.rows;
      sum.chunks += t.chunks;
      sum.bytes += t.bytes;
      sum.skippedChunks += t.skippedChunks;
    }
    sum.expectedRows = stage === 'prepare' || stage === 'plan' ? null : partitions.reduce((n, p) => n + p.estimatedRows, 0);
    return {
      ...progressOf('backfill', input.table, sum, { stage, currentRange: null }, Date.now()),
      partitions: { total: partitions.length, done: finished.size, running },
    };
  };
  setHandler(progressQuery, progress);
  setHandler(childProgressSignal, ({ id, totals }) => {
    if (!finished.has(id)) reports.set(id, totals);
    setCurrentDetails(detailsMarkdown(progress()));
  });

  const { plan, watermark, covered } = await prepareTable({ table: input.table, settings: input.settings });
  stage = 'plan';
  const planned = await planBackfill({
    plan,
    watermark,
    covered,
    fromId: input.fromId,
    toId: input.toId,
    since: input.since,
    until: input.until,
    timeColumn: input.timeColumn,
    partitions: input.partitions ?? DEFAULT_PARTITIONS,
  });
  partitions = planned.partitions;
  stage = 'insertBatch';
  setCurrentDetails(detailsMarkdown(progress()));

  const queue = partitions.map((partition, i) => ({ partition, index: i + 1 }));
  const inFlight = new Map<string, Promise<{ id: string; result?: PartitionResult; error?: unknown }>>();
  const failures: string[] = [];
  while (queue.length > 0 || inFlight.size > 0) {
    while (queue.length > 0 && inFlight.size < parallel && failures.length === 0) {
      const { partition, index } = queue.shift()!;
      const id = backfillPartitionId(plan.key, partition.afterId, partition.toId);
      const child = await startChild(backfillPartition, {
        workflowId: id,
        args: [{ table: plan.key, plan, partition, index, of: partitions.length, chunkRows }],
        staticSummary: `Backfill ${plan.key}, partition ${index} of ${partitions.length}: ids (${partition.afterId ?? 'start'}, ${partition.toId}], ~${partition.estimatedRows} rows`,
        memo: { table: plan.key, afterId: partition.afterId, toId: partition.toId },
        ...tableSearchAttributes(plan.key, input.indexed),
      });
      inFlight.set(
        id,
        child.result().then(
          (result) => ({ id, result }),
          (error: unknown) => ({ id, error }),
        ),
      );
    }
    running = inFlight.size;
    if (inFlight.size === 0) break;
    const done = await Promise.race(inFlight.values());
    inFlight.delete(done.id);
    running = inFlight.size;
    if (done.result) {
      reports.set(done.id, done.result);
      finished.add(done.id);
    } else {
      const cause = (done.error as { cause?: { message?: string } })?.cause?.message ?? String(done.error);
      failures.push(`${done.id}: ${cause}`);
    }
    setCurrentDetails(detailsMarkdown(progress()));
  }
  stage = 'done';
  const p = progress();
  upsertMemo({ rows: p.rowsCopied, chunks: p.chunks, partitions: partitions.length, failed: failures.length });
  setCurrentDetails(detailsMarkdown(p));
  if (failures.length > 0) {
    // Finished partitions stay recorded: running the same backfill again copies only the rest.
    throw ApplicationFailure.nonRetryable(
      `backfill of ${plan.key}: ${failures.length} of ${partitions.length} partitions failed (${failures.join('; ')}); ` +
        `${finished.size} finished and are kept: run the backfill again to copy the rest`,
      'BackfillFailed',
    );
  }
  return {
    table: plan.key,
    range: planned.range,
    skipped: planned.skipped,
    partitions: partitions.length,
    rows: p.rowsCopied,
    chunks: p.chunks,
    skippedChunks: p.skippedChunks,
    elapsedMs: Date.now() - startedAt,
  };
}

/** One partition of a backfill: its range, chunk by chunk, each chunk checked against ClickHouse first. */
export async function backfillPartition(input: PartitionInput): Promise<PartitionResult> {
  const totals = input.totals ?? newTotals(Date.now());
  totals.expectedRows ??= input.partition.estimatedRows;
  const live: Live = { stage: 'readChunk', currentRange: null, movedAt: Date.now() };
  const progress = () => progressOf('partition', input.table, totals, live, Date.now());
  setHandler(progressQuery, progress);
  const report = parentReporter(totals);
  const { more, chunkRows } = await copyChunks({
    plan: input.plan,
    from: totals.lastId ?? input.partition.afterId,
    upTo: input.partition.toId,
    chunkRows: input.chunkRows,
    checkEveryChunk: true,
    covered: [],
    totals,
    live,
    onCheckpoint: () => {
      setCurrentDetails(detailsMarkdown(progress()));
      report();
    },
  });
  if (more) await continueAsNew<typeof backfillPartition>({ ...input, chunkRows, totals });
  upsertMemo({ rows: totals.rows, chunks: totals.chunks });
  return { ...totals, elapsedMs: Date.now() - totals.startedAt };
}

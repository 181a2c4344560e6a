import {
  continueAsNew,
  defineQuery,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Pg2chActivities } from '../activities';
import type { ChunkRange, CopyResult } from '../core/types';

/** One object is the workflow's input and its continue-as-new state. */
export interface SyncTableInput {
  /** `table` or `schema.table` in PostgreSQL. */
  table: string;
  chunkRows?: number;
  /** Totals carried across continue-as-new; absent on the first run. */
  totals?: SyncTotals;
}

export interface SyncTotals {
  rows: number;
  chunks: number;
  bytes: number;
  /** Chunks found already in ClickHouse after a crash and not inserted again. */
  skippedChunks: number;
  lastId: string | null;
  /** Epoch ms of the first run's start. */
  startedAt: number;
}

export interface SyncProgress extends SyncTotals {
  table: string;
  stage: 'prepare' | 'readChunk' | 'insertBatch' | 'checkpoint' | 'done';
  currentRange: ChunkRange | null;
}

export type SyncResult = SyncTotals & { table: string; elapsedMs: number };

export const DEFAULT_CHUNK_ROWS = 500_000;
export const progressQuery = defineQuery<SyncProgress>('progress');

// Declared once. Short calls get short timeouts: one lost with a crashed
// worker is retried after its timeout, so that bounds the recovery time.
// prepareTable may wait for ON CLUSTER DDL; the copy heartbeats instead.
const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 25 } as const;
const { prepareTable } = proxyActivities<Pg2chActivities>({ startToCloseTimeout: '5m', retry });
const { readChunk, checkpoint } = proxyActivities<Pg2chActivities>({ startToCloseTimeout: '30s', retry });
const { insertBatch } = proxyActivities<Pg2chActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '20s',
  retry,
});

/** Keeps history well below Temporal's limits whatever the table size. */
const MAX_CHUNKS_PER_RUN = 200;
/** Chunk copies in flight at once. */
const COPY_WINDOW = 2;
/**
 * Chunks at the start of a run that a crashed run may have inserted without
 * checkpoints: the copies in flight plus the one whose checkpoint lagged.
 */
const RESUME_WINDOW = COPY_WINDOW + 1;

export async function syncTable(input: SyncTableInput): Promise<SyncResult> {
  const chunkRows = input.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const totals: SyncTotals = input.totals ?? {
    rows: 0,
    chunks: 0,
    bytes: 0,
    skippedChunks: 0,
    lastId: null,
    startedAt: Date.now(),
  };
  const progress: Pick<SyncProgress, 'stage' | 'currentRange'> = { stage: 'prepare', currentRange: null };
  setHandler(progressQuery, () => ({ ...totals, table: input.table, ...progress }));

  const { plan, watermark } = await prepareTable({ table: input.table });
  // A sliding window of COPY_WINDOW chunk copies: while ClickHouse parses one
  // chunk PostgreSQL already streams the next, and the next range is read
  // meanwhile. Checkpoints are written strictly in chunk order, each after
  // its copy and the previous checkpoint, so the watermark never passes a
  // chunk that is not in ClickHouse.
  const inFlight: Array<{ range: ChunkRange; copy: Promise<CopyResult> }> = [];
  let lastCheckpoint: Promise<void> = Promise.resolve();
  let next = await readChunk({ plan, afterId: watermark, chunkRows });
  let started = 0;
  let stopForNewRun = false;
  while (inFlight.length > 0 || (next && !stopForNewRun)) {
    while (next && !stopForNewRun && inFlight.length < COPY_WINDOW) {
      const range = next;
      const copy = insertBatch({ plan, range, resume: started < RESUME_WINDOW });
      copy.catch(() => undefined); // awaited in order below; only silences the unhandled-rejection report
      inFlight.push({ range, copy });
      started++;
      progress.stage = 'readChunk';
      next = await readChunk({ plan, afterId: range.toId, chunkRows });
      stopForNewRun = started >= MAX_CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested;
    }
    const head = inFlight.shift()!;
    progress.stage = 'insertBatch';
    progress.currentRange = head.range;
    let copied: CopyResult;
    try {
      copied = await head.copy;
    } catch (err) {
      // Start nothing more; copies already running finish (their chunks stay
      // past the watermark and the next run's resume check finds them).
      await Promise.allSettled([lastCheckpoint, ...inFlight.map((f) => f.copy)]);
      throw err;
    }
    await lastCheckpoint;
    progress.stage = 'checkpoint';
    lastCheckpoint = checkpoint({ plan, range: head.range, rows: copied.rows });
    lastCheckpoint.catch(() => undefined);
    totals.rows += copied.rows;
    totals.bytes += copied.bytes;
    totals.chunks += 1;
    if (copied.skipped) totals.skippedChunks += 1;
    totals.lastId = head.range.toId;
  }
  await lastCheckpoint;
  if (stopForNewRun && next) {
    await continueAsNew<typeof syncTable>({ ...input, chunkRows, totals });
  }
  progress.stage = 'done';
  progress.currentRange = null;
  if (totals.lastId === null) totals.lastId = watermark;
  return { ...totals, table: plan.key, elapsedMs: Date.now() - totals.startedAt };
}

/** Workflow id of a table's sync: one at a time per table, whoever starts it. */
export function syncWorkflowId(table: string): string {
  return `sync:${table}`;
}

export type ScheduledSyncResult = SyncResult | { table: string; skipped: string };

/**
 * What a schedule starts. Temporal gives scheduled workflows ids of their own
 * (sync:t-<time>), so the sync itself is started as a child under the fixed
 * id sync:<table>: if a sync of the table is running already (started by
 * `pg2ch sync` or a backfill of the same id), this run is skipped instead of
 * doubling it.
 */
export async function scheduledSync(input: SyncTableInput): Promise<ScheduledSyncResult> {
  try {
    const child = await startChild(syncTable, {
      workflowId: syncWorkflowId(input.table),
      args: [input],
      // The sync finishes even if this wrapper is terminated.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    return await child.result();
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { table: input.table, skipped: `a sync of ${input.table} is already running` };
    }
    throw err;
  }
}

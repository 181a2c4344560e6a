import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Pg2chActivities } from '../activities';
import type { ChunkRange } from '../core/types';

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

// Declared once: short metadata calls and the long streaming copy.
const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 25 } as const;
const { prepareTable, readChunk, checkpoint } = proxyActivities<Pg2chActivities>({
  startToCloseTimeout: '2m',
  retry,
});
const { insertBatch } = proxyActivities<Pg2chActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '20s',
  retry,
});

/** Keeps history well below Temporal's limits whatever the table size. */
const MAX_CHUNKS_PER_RUN = 200;

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
  const progress: SyncProgress = { ...totals, table: input.table, stage: 'prepare', currentRange: null };
  setHandler(progressQuery, () => ({ ...progress, ...totals }));

  const { plan, watermark } = await prepareTable({ table: input.table });
  let afterId = watermark;
  // The first chunk of a run may repeat one whose checkpoint was lost with a crashed run.
  let resume = true;
  for (let n = 0; ; n++) {
    if (n >= MAX_CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof syncTable>({ ...input, chunkRows, totals });
    }
    progress.stage = 'readChunk';
    const range = await readChunk({ plan, afterId, chunkRows });
    if (!range) break;
    progress.currentRange = range;
    progress.stage = 'insertBatch';
    const copied = await insertBatch({ plan, range, resume });
    progress.stage = 'checkpoint';
    await checkpoint({ plan, range, rows: copied.rows });
    resume = false;
    totals.rows += copied.rows;
    totals.bytes += copied.bytes;
    totals.chunks += 1;
    if (copied.skipped) totals.skippedChunks += 1;
    totals.lastId = range.toId;
    afterId = range.toId;
  }
  progress.stage = 'done';
  progress.currentRange = null;
  if (totals.lastId === null) totals.lastId = watermark;
  return { ...totals, table: plan.key, elapsedMs: Date.now() - totals.startedAt };
}

import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { patched, workflowInfo } from '@temporalio/workflow';
import { CHUNK_TOO_BIG, chunkTooBigMessage, smallerChunk } from '../core/chunk-size';
import { nextCovered, type CursorRange } from '../core/ranges';
import { earlierHorizon } from '../core/horizon';
import type { ChunkRange, CopyResult, TablePlan } from '../core/types';
import { checkpoint, insertBatch, readChunk } from './activity-proxies';
import type { CopyTotals, Live } from './progress';

/** Keeps history well below Temporal's limits whatever the table size. */
export const MAX_CHUNKS_PER_RUN = 200;
/** Chunk copies in flight at once. */
const COPY_WINDOW = 2;
/**
 * Chunks at the start of a run that a crashed run may have inserted without
 * checkpoints: the copies in flight plus the one whose checkpoint lagged.
 */
const RESUME_WINDOW = COPY_WINDOW + 1;

export interface ChunkLoop {
  plan: TablePlan;
  /** Cursor position to continue after (the watermark); null = the table's start. */
  from: string | null;
  /** Inclusive upper bound (a backfill partition's end); none = the table's end. */
  upTo?: string;
  chunkRows: number;
  /** Check every chunk against ClickHouse before inserting it (backfills, which may overlap rows present). */
  checkEveryChunk: boolean;
  /** Ranges already copied by backfills: jumped over, never copied twice. */
  covered: CursorRange[];
  totals: CopyTotals;
  live: Live;
  /** After each checkpoint. */
  onCheckpoint?: () => void;
}

/** A step of the loop: a chunk to copy, or a jump over a covered range (nothing to copy). */
interface Step {
  range: ChunkRange;
  jump: boolean;
}

/**
 * readChunk -> insertBatch (serializing as it streams) -> checkpoint, over a
 * sliding window of COPY_WINDOW chunk copies: while ClickHouse parses one
 * chunk PostgreSQL already streams the next, and the next range is read
 * meanwhile. Checkpoints are written strictly in chunk order, each after its
 * copy and the previous checkpoint, so the watermark never passes a chunk
 * that is not in ClickHouse. Returns where it stopped and whether more is
 * left for a continue-as-new run.
 */
/** The reason of an insert ClickHouse refused for the chunk's size, or undefined for any other failure. */
function tooBigReason(err: unknown): string | undefined {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === CHUNK_TOO_BIG ? err.cause.message : undefined;
}

/**
 * A chunk too big for ClickHouse is copied again from the same position at
 * half the size, down to a floor (core/chunk-size.ts); the size stays cut for
 * the rest of the run, which returns it for the next one.
 */
export async function copyChunks(loop: ChunkLoop): Promise<{ more: boolean; chunkRows: number }> {
  const { plan, totals, live } = loop;
  let chunkRows = loop.chunkRows;
  let checkEveryChunk = loop.checkEveryChunk;
  live.movedAt ??= Date.now();
  const min = (a?: string, b?: string) => (a === undefined ? b : b === undefined ? a : BigInt(a) <= BigInt(b) ? a : b);
  const jump = (afterId: string | null, toId: string): Step => ({ range: { afterId, toId, rows: 0 }, jump: true });

  async function nextStep(position: string | null): Promise<Step | null> {
    if (loop.upTo !== undefined && position !== null && BigInt(position) >= BigInt(loop.upTo)) return null;
    const c = nextCovered(position, loop.covered);
    if (c.jumpTo) return jump(position, min(c.jumpTo, loop.upTo)!);
    const bound = min(c.stopAt, loop.upTo);
    live.stage = 'readChunk';
    const chunk = await readChunk({ plan, afterId: position, chunkRows, upTo: bound });
    if (chunk) return { range: chunk, jump: false };
    // No rows up to the bound: move there (the next step jumps a covered
    // range; a partition's last checkpoint at its end marks it finished).
    return bound === undefined ? null : jump(position, bound);
  }

  const inFlight: Array<{ step: Step; copy: Promise<CopyResult> }> = [];
  let lastCheckpoint: Promise<void> = Promise.resolve();
  let next = await nextStep(loop.from);
  let started = 0;
  let stopForNewRun = false;
  // Updated mode: the earliest horizon this run's chunks asked for, where the next run starts (core/horizon.ts).
  let horizon: string | undefined;
  while (inFlight.length > 0 || (next && !stopForNewRun)) {
    while (next && !stopForNewRun && inFlight.length < COPY_WINDOW) {
      const step = next;
      const { range } = step;
      const copy = step.jump
        ? Promise.resolve({ rows: 0, bytes: 0, skipped: false })
        : insertBatch.executeWithOptions({ summary: `copy ${plan.key} (${range.afterId ?? 'start'}, ${range.toId}]: ${range.rows} rows` }, [
            { plan, range, resume: checkEveryChunk || started < RESUME_WINDOW },
          ]);
      copy.catch(() => undefined); // awaited in order below; only silences the unhandled-rejection report
      inFlight.push({ step, copy });
      if (!step.jump) started++;
      next = await nextStep(range.toId);
      stopForNewRun = started >= MAX_CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested;
    }
    const head = inFlight.shift()!;
    live.stage = 'insertBatch';
    live.currentRange = { afterId: head.step.range.afterId, toId: head.step.range.toId };
    let copied: CopyResult;
    try {
      copied = await head.copy;
    } catch (err) {
      // Start nothing more; copies already running finish (their chunks stay
      // past the watermark and the next run's resume check finds them).
      await Promise.allSettled([lastCheckpoint, ...inFlight.map((f) => f.copy)]);
      const reason = tooBigReason(err);
      // Histories from before halving never hold a ChunkTooBig failure; the
      // marker keeps this branch apart should this code change again.
      if (reason === undefined || !patched('chunk-halving')) throw err;
      const smaller = smallerChunk(chunkRows, loop.chunkRows);
      if (smaller === undefined) throw ApplicationFailure.nonRetryable(chunkTooBigMessage(plan.key, chunkRows, loop.chunkRows, reason), CHUNK_TOO_BIG);
      await lastCheckpoint;
      chunkRows = smaller;
      live.chunkRows = { now: chunkRows, configured: loop.chunkRows, reason };
      // The failed chunk may be in ClickHouse in part, the ones after it
      // whole: every chunk from here on is checked before it is inserted.
      checkEveryChunk = true;
      inFlight.length = 0;
      next = await nextStep(head.step.range.afterId);
      continue;
    }
    await lastCheckpoint;
    live.stage = 'checkpoint';
    horizon = earlierHorizon(horizon, copied.horizon);
    lastCheckpoint = checkpoint({ plan, range: head.step.range, rows: copied.rows, ...(horizon === undefined ? {} : { horizon }) }).then(() => {
      live.movedAt = Date.now();
      loop.onCheckpoint?.();
    });
    lastCheckpoint.catch(() => undefined);
    totals.rows += copied.rows;
    totals.bytes += copied.bytes;
    if (!head.step.jump) totals.chunks += 1;
    if (copied.skipped) totals.skippedChunks += 1;
    totals.lastId = head.step.range.toId;
  }
  await lastCheckpoint;
  live.stage = 'done';
  live.currentRange = null;
  return { more: stopForNewRun && next !== null, chunkRows };
}

import { defineQuery, defineSignal, getExternalWorkflowHandle, workflowInfo } from '@temporalio/workflow';
import type { CursorRange } from '../core/ranges';
import type { RetryInfo } from '../core/stall';

/** Counters of one copy; carried across continue-as-new. */
export interface CopyTotals {
  rows: number;
  chunks: number;
  bytes: number;
  /** Chunks found already in ClickHouse after a crash and not inserted again. */
  skippedChunks: number;
  /** Last cursor value checkpointed. */
  lastId: string | null;
  /** Rows this copy expected to move when it started (estimated for big ranges); null until known. */
  expectedRows: number | null;
  /** Epoch ms of the first run's start. */
  startedAt: number;
  /** Rows that committed behind the watermark and were copied by a recheck (syncs only). */
  lateRows?: number;
}

export type Stage = 'prepare' | 'plan' | 'readChunk' | 'insertBatch' | 'checkpoint' | 'done';

/** Where a run is now; not carried across continue-as-new. */
export interface Live {
  stage: Stage;
  currentRange: CursorRange | null;
  /** Epoch ms of this run's last checkpoint (or its start): how long it has not moved. */
  movedAt?: number;
  /** Set when chunks were cut smaller after one was too big for ClickHouse. */
  chunkRows?: { now: number; configured: number; reason: string };
}

/** What the `progress` query of every pg2ch workflow returns. */
export interface Progress {
  kind: 'sync' | 'backfill' | 'partition' | 'verify' | 'status';
  table: string;
  stage: Stage;
  rowsCopied: number;
  rowsExpected: number | null;
  chunks: number;
  skippedChunks: number;
  bytes: number;
  lastId: string | null;
  currentRange: CursorRange | null;
  elapsedMs: number;
  rowsPerSecond: number;
  /** Backfills only. */
  partitions?: { total: number; done: number; running: number };
  /** Epoch ms of the last checkpoint (or the run's start); absent from workflows started before it existed. */
  lastProgressAt?: number;
  /** Chunks are copied smaller than configured because a full one was too big for ClickHouse. */
  chunkRows?: { now: number; configured: number; reason: string };
  /** Added by the CLI from describe() (never by the workflow): the activity Temporal is retrying. */
  retry?: RetryInfo;
}

export const progressQuery = defineQuery<Progress>('progress');

/** Sent by a child (a backfill's partition, a scheduled run's sync) to its parent, so the parent's progress is live. */
export const childProgressSignal = defineSignal<[{ id: string; totals: CopyTotals }]>('childProgress');

/** Minimum time between progress signals to a parent: its history stays small. */
const REPORT_EVERY_MS = 2000;

/**
 * A function that reports `totals` to this workflow's parent, if it has one,
 * at most every REPORT_EVERY_MS. Best effort: the child's result carries the
 * final totals, and a parent that is gone must not fail the child.
 */
export function parentReporter(totals: CopyTotals): () => void {
  const parent = workflowInfo().parent;
  let last = 0;
  return () => {
    if (!parent || Date.now() - last < REPORT_EVERY_MS) return;
    last = Date.now();
    getExternalWorkflowHandle(parent.workflowId, parent.runId)
      .signal(childProgressSignal, { id: workflowInfo().workflowId, totals: { ...totals } })
      .catch(() => undefined);
  };
}

export function newTotals(now: number): CopyTotals {
  return { rows: 0, chunks: 0, bytes: 0, skippedChunks: 0, lastId: null, expectedRows: null, startedAt: now };
}

export function progressOf(
  kind: Progress['kind'],
  table: string,
  totals: CopyTotals,
  live: Live,
  now: number,
): Progress {
  const elapsedMs = Math.max(0, now - totals.startedAt);
  return {
    kind,
    table,
    stage: live.stage,
    rowsCopied: totals.rows,
    rowsExpected: totals.expectedRows,
    chunks: totals.chunks,
    skippedChunks: totals.skippedChunks,
    bytes: totals.bytes,
    lastId: totals.lastId,
    currentRange: live.currentRange,
    elapsedMs,
    rowsPerSecond: elapsedMs > 0 ? Math.round((totals.rows * 1000) / elapsedMs) : 0,
    lastProgressAt: live.movedAt ?? totals.startedAt,
    ...(live.chunkRows ? { chunkRows: live.chunkRows } : {}),
  };
}

const fmt = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** The Web UI's "current details" of a workflow: Markdown, one glance. */
export function detailsMarkdown(p: Progress): string {
  const pct = p.rowsExpected ? ` (${Math.min(100, Math.floor((p.rowsCopied * 100) / Math.max(1, p.rowsExpected)))}%)` : '';
  const lines = [
    `**${p.kind} of ${p.table}**: ${p.stage}`,
    '',
    `- rows: ${fmt(p.rowsCopied)}${p.rowsExpected !== null ? ` of ~${fmt(p.rowsExpected)}` : ''}${pct}, ${fmt(p.rowsPerSecond)} rows/s`,
    `- chunks: ${fmt(p.chunks)}${p.skippedChunks ? ` (${p.skippedChunks} already present)` : ''}; last id ${p.lastId ?? 'none'}`,
  ];
  if (p.currentRange) lines.push(`- current range: (${p.currentRange.afterId ?? 'start'}, ${p.currentRange.toId}]`);
  if (p.partitions) lines.push(`- partitions: ${p.partitions.done} of ${p.partitions.total} done, ${p.partitions.running} running`);
  if (p.chunkRows) lines.push(`- chunks cut to ${fmt(p.chunkRows.now)} rows (configured ${fmt(p.chunkRows.configured)}): ${p.chunkRows.reason}`);
  if (p.lastProgressAt !== undefined) lines.push(`- last progress: ${new Date(p.lastProgressAt).toISOString()} (retries of a failing activity show under Pending Activities)`);
  return lines.join('\n');
}

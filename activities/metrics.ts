import { CancelledFailure } from '@temporalio/common';
import type { TableStatus } from './status';

/**
 * pg2ch's own Prometheus metrics, per table. The activities record what they
 * already know (rows and bytes of each chunk, its duration, failures), so a
 * scrape costs no query; lag and pending rows come from the status read,
 * refreshed at most every STATUS_REFRESH_MS by the metrics server. The
 * implementation (worker/metrics-server.ts) loads prom-client only when
 * metrics are on.
 */
export interface SyncMetrics {
  /** A chunk is in ClickHouse: `rows` inserted now (0 when an earlier attempt had inserted it). */
  chunkCopied(table: string, c: { rows: number; bytes: number; seconds: number }): void;
  /** Rows copied outside chunks (late commits found behind the watermark). */
  rowsCopied(table: string, rows: number): void;
  /** An activity failed, after the failure was classified (core/errors.ts). */
  failed(table: string, activity: string, err: unknown): void;
  /** Rows past the watermark still to copy, as prepareTable estimated them. */
  pending(table: string, rows: number): void;
  /** The sync found no row past the watermark. */
  caughtUp(table: string): void;
  /** What `pg2ch status` computes for each table (lag seconds, pending rows). */
  status(statuses: TableStatus[]): void;
  /** Hook for CDC: bytes of WAL the replication slot retains behind the server's current position. */
  slotLag(slot: string, table: string, bytes: number): void;
  /** Tables this worker has worked on: the status refresh reads these. */
  tables(): string[];
}

/** The table an activity's input names: a plan's key, or the table given. */
export function tableOfInput(input: unknown): string {
  const i = input as { plan?: { key?: unknown }; table?: unknown } | undefined;
  const t = i?.plan?.key ?? i?.table;
  return typeof t === 'string' ? t : '';
}

type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

/** What an activity's success tells the metrics, by activity name. */
const ON_SUCCESS: Record<string, (m: SyncMetrics, input: any, result: any, seconds: number) => void> = {
  prepareTable: (m, _input, r: { plan: { key: string }; pendingRows: number }) => m.pending(r.plan.key, r.pendingRows),
  insertBatch: (m, input: { plan: { key: string } }, r: { rows: number; bytes: number; skipped: boolean }, seconds) =>
    m.chunkCopied(input.plan.key, { rows: r.skipped ? 0 : r.rows, bytes: r.bytes, seconds }),
  // No next chunk and no upper bound (a backfill partition's end is not the table's): caught up.
  readChunk: (m, input: { plan: { key: string }; upTo?: string }, r: unknown) => {
    if (r === null && input.upTo === undefined) m.caughtUp(input.plan.key);
  },
  recheckLate: (m, input: { plan: { key: string } }, r: { copied: number }) => m.rowsCopied(input.plan.key, r.copied),
};

/**
 * The activities, recording into `metrics` what each one's input, result and
 * failure say: a wrapper, so the activities themselves stay free of metrics
 * code and a scrape costs no query. Failures arrive classified (failures.ts):
 * retryable or not, and their type.
 */
export function withMetrics<T extends Activities>(activities: T, metrics: SyncMetrics | undefined): T {
  if (!metrics) return activities;
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]) => {
      const started = performance.now();
      let result: unknown;
      try {
        result = await fn(...args);
      } catch (err) {
        // A cancelled activity (the sync cancelled, the worker stopping) is no error.
        if (!(err instanceof CancelledFailure)) metrics.failed(tableOfInput(args[0]), name, err);
        throw err;
      }
      try {
        ON_SUCCESS[name]?.(metrics, args[0], result, (performance.now() - started) / 1000);
      } catch {
        // A metric must never fail the activity it measures.
      }
      return result;
    };
  }
  return out as T;
}

import { ApplicationFailure } from '@temporalio/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TableStatus } from './status';

/**
 * pg2ch's own Prometheus metrics, per table. The activities record what they
 * already know (rows and bytes of each chunk, its duration, failures), so a
 * scrape costs no query; lag and pending rows come from the status read,
 * refreshed at most every STATUS_REFRESH_MS by the metrics server.
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

export function createSyncMetrics(registry: Registry): SyncMetrics {
  const registers = [registry];
  const rows = new Counter({ name: 'pg2ch_rows_copied_total', help: 'Rows copied from PostgreSQL into ClickHouse', labelNames: ['table'], registers });
  const bytes = new Counter({
    name: 'pg2ch_bytes_copied_total',
    help: 'Bytes of TabSeparated text streamed from PostgreSQL into ClickHouse (the pull strategy streams none through the worker)',
    labelNames: ['table'],
    registers,
  });
  const chunks = new Counter({ name: 'pg2ch_chunks_copied_total', help: 'Chunks copied into ClickHouse', labelNames: ['table'], registers });
  const duration = new Histogram({
    name: 'pg2ch_chunk_copy_seconds',
    help: 'Time to copy one chunk (COPY out of PostgreSQL and insert into ClickHouse)',
    labelNames: ['table'],
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  const errors = new Counter({
    name: 'pg2ch_activity_errors_total',
    help: 'Activity failures by kind: retryable (Temporal retries) or non_retryable (the sync fails), and error type',
    labelNames: ['table', 'activity', 'kind', 'type'],
    registers,
  });
  const pendingRows = new Gauge({ name: 'pg2ch_rows_pending', help: 'Rows in PostgreSQL past the watermark, not yet in ClickHouse (estimated when many)', labelNames: ['table'], registers });
  const lagSeconds = new Gauge({
    name: 'pg2ch_lag_seconds',
    help: "Age of the oldest row not yet in ClickHouse by its created_at, 0 when caught up (as pg2ch status shows it)",
    labelNames: ['table'],
    registers,
  });
  const lastCopy = new Gauge({ name: 'pg2ch_last_chunk_timestamp_seconds', help: 'Unix time of the last chunk copied', labelNames: ['table'], registers });
  const slot = new Gauge({ name: 'pg2ch_cdc_slot_lag_bytes', help: 'WAL bytes the replication slot retains behind the current position (CDC)', labelNames: ['slot', 'table'], registers });
  const seen = new Set<string>();
  const pendingNow = new Map<string, number>();
  const setPending = (table: string, n: number) => {
    pendingNow.set(table, n);
    pendingRows.set({ table }, n);
  };
  const see = (table: string) => {
    if (table) seen.add(table);
    return { table };
  };
  return {
    chunkCopied(table, c) {
      const l = see(table);
      rows.inc(l, c.rows);
      bytes.inc(l, c.bytes);
      chunks.inc(l);
      duration.observe(l, c.seconds);
      lastCopy.set(l, Date.now() / 1000);
      // Between status refreshes the estimate moves down with the copy.
      const left = pendingNow.get(table);
      if (left !== undefined) setPending(table, Math.max(0, left - c.rows));
    },
    rowsCopied(table, n) {
      if (n > 0) rows.inc(see(table), n);
    },
    failed(table, activity, err) {
      const nonRetryable = err instanceof ApplicationFailure && err.nonRetryable;
      const type = (err instanceof ApplicationFailure && err.type) || 'UnknownError';
      errors.inc({ table: table || 'unknown', activity, kind: nonRetryable ? 'non_retryable' : 'retryable', type });
    },
    pending(table, n) {
      see(table);
      setPending(table, n);
    },
    caughtUp(table) {
      setPending(see(table).table, 0);
      lagSeconds.set({ table }, 0);
    },
    status(statuses) {
      for (const s of statuses) {
        if (s.error) continue;
        if (s.lagRows !== null) setPending(s.table, s.lagRows);
        if (s.lagSeconds !== null) lagSeconds.set({ table: s.table }, s.lagSeconds);
      }
    },
    slotLag(slotName, table, n) {
      slot.set({ slot: slotName, table }, n);
    },
    tables: () => [...seen],
  };
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
        metrics.failed(tableOfInput(args[0]), name, err);
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

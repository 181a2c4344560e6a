// Plain data shared by workflows and activities. Everything here travels in
// Temporal payloads, so it holds names, ranges and counts, never rows or secrets.
import type { SourceTable } from './table-name';

export interface ColumnPlan {
  name: string;
  /** PostgreSQL type as format_type() prints it. */
  pgType: string;
  /** ClickHouse column type, Nullable(...) included. */
  chType: string;
  /** PostgreSQL expression whose COPY text output ClickHouse parses as chType. */
  select: string;
  /** The embedded engine's postgresql() reads this type exactly (see core/type-map.ts). */
  pullSafe: boolean;
  /** Values outside [from, to) cannot be held by chType and must stop the sync. */
  range?: { from: string; to: string; pgType: string };
}

/**
 * push: PostgreSQL COPY streamed by the worker into ClickHouse.
 * pull: the embedded engine reads the chunk itself through postgresql().
 */
export type CopyStrategy = 'push' | 'pull';

/** Decided once per workflow run by prepareTable: how this table is copied. */
export interface TablePlan {
  /** Key of the table in workflow ids and sync_control: `table` or `schema.table`. */
  key: string;
  source: SourceTable;
  destination: { database: string; table: string };
  cursor: string;
  columns: ColumnPlan[];
  /** The server honours insert_deduplication_token on the destination. */
  dedupToken: boolean;
  strategy: CopyStrategy;
  clickhouseVersion: string;
}

/** Cursor values are decimal strings: int8 never passes through a JS number. */
export interface ChunkRange {
  /** Exclusive lower bound (the watermark the chunk starts after). */
  afterId: string | null;
  /** Inclusive upper bound. */
  toId: string;
  rows: number;
}

export interface CopyResult {
  rows: number;
  bytes: number;
  /** The range was already in ClickHouse from an attempt that died before its checkpoint. */
  skipped: boolean;
}

// Plain data shared by workflows and activities. Everything here travels in
// Temporal payloads, so it holds names, ranges and counts, never rows or secrets.
import type { Layout } from './ddl';
import type { Keyset } from './keyset';
import type { SourceTable } from './table-name';
import type { TableSettings } from './table-settings';

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
  /** Dates and timestamps: values outside [from, to) cannot be held by chType. */
  range?: { from: string; to: string; pgType: string };
  /** Values chType cannot hold: `when` is a PostgreSQL condition on the column, `holds` says what fits. */
  guard?: { when: string; holds: string };
  /** A type pg2ch has no mapping for, copied as PostgreSQL's text (String). */
  textByDefault?: true;
  /** How the CDC path renders this column from the type's output text as `select` does (core/change-values.ts). */
  render?: ColumnRender;
}

/**
 * The data half of a column's mapping: what core/change-values.ts does to a
 * value's output text (as pgoutput sends it) to print what `select` prints.
 * Built by core/type-map.ts beside each SQL expression; plain data, since it
 * travels in Temporal payloads.
 */
export interface ColumnRender {
  value: ValueRender;
  /** Values chType cannot hold, as `guard.when` finds them. */
  guard?: ValueGuard;
  /** What the select does with them (key columns never null). */
  policy?: 'fail' | 'clamp' | 'null';
  /** NULL, and a value set to NULL, is written as this text (ClickHouse has no Nullable(Array) or Nullable(JSON)). */
  nullAs?: string;
}

export type ValueRender =
  /** The output text itself (`c`, `c::text` where that is the output). */
  | { kind: 'text' }
  /** `c::text` ('true'/'false'), or `c::int` ('1'/'0') with digit. */
  | { kind: 'bool'; digit: boolean }
  /** `inet::text`: the netmask is always printed. */
  | { kind: 'inet' }
  /** NaN and infinities as ClickHouse spells them; old: the old reader's 19 digits (type-map.ts oldServerFloatDigits). */
  | { kind: 'float'; single: boolean; nan: string; old: boolean }
  /** zone: timestamptz at UTC (the session prints +00); seconds: date_trunc('second'). */
  | { kind: 'timestamp'; zone: boolean; seconds: boolean }
  /** ClickHouse array text from the elements' rendered text; quoted: in single quotes, quotes doubled. */
  | { kind: 'array'; element: ValueRender; quoted: boolean; delimiter: string };

export type ValueGuard =
  /** Outside [from, to), compared as the rendered text; below/above: the clamped values' rendered text. */
  | { kind: 'range'; from: string; to: string; below?: string; above?: string }
  | { kind: 'nan' }
  /** NaN, ±Infinity, more than 38 digits before the point, a nonzero digit past the 38th after it. */
  | { kind: 'decimal' }
  /** Not a JSON object. */
  | { kind: 'object' }
  /** More than one dimension, or an element its guard finds. */
  | { kind: 'array'; element?: ValueGuard };

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
  /** The integer cursor column, or the time column of a keyset cursor. */
  cursor: string;
  /** append: rows are inserted once; updated: rows change, and each run copies those changed since the watermark. */
  mode: 'append' | 'updated' | 'cdc';
  /** The row key (primary key or a unique index) the ReplacingMergeTree ORDER BY holds; absent for MergeTree. */
  rowKey?: string[];
  /** No row key is the integer cursor alone: several rows may share a cursor value. Absent: the cursor identifies a row. */
  cursorShared?: boolean;
  /** A timestamp cursor with its tiebreak; positions are "<micros>:<tiebreak>" (core/keyset.ts). Absent: integer cursor. */
  keyset?: Keyset;
  columns: ColumnPlan[];
  layout: Layout;
  /** Columns the config leaves out: ClickHouse may have them, PostgreSQL may not. */
  excluded: string[];
  /** The ClickHouse column ReplacingMergeTree's is_deleted reads, when a soft-delete column is configured. */
  softDelete?: string;
  /**
   * A ClickHouse-only UInt8 column whose 1 marks a row deleted (CDC tables:
   * `_deleted`), beside a ClickHouse-only version column (`_version`) that
   * the layout names. Verify counts such rows absent; neither is in columns.
   */
  deletedColumn?: string;
  /** Updated mode: seconds each run reads again before the watermark. */
  lookbackSeconds: number;
  /** What happens to values a column's ClickHouse type cannot hold (see "Out-of-range values" in the README). */
  outOfRange: 'fail' | 'clamp' | 'null';
  /** The source's columns and types when planned: a chunk finding others stops the run, which plans again. */
  sourceSignature: string;
  /** The server honours insert_deduplication_token on the destination. */
  dedupToken: boolean;
  strategy: CopyStrategy;
  clickhouseVersion: string;
  /** The settings the plan was made from (recorded with each checkpoint; names and choices, no secrets). */
  settings?: TableSettings;
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
  /** Updated mode: microseconds before which no row the chunk's snapshot missed is stamped (core/horizon.ts). */
  horizon?: string;
}

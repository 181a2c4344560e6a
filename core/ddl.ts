import type { ClickHouseCapabilities } from './clickhouse-version';
import { chIdent, chQualified, chString } from './quote';
import type { ColumnPlan } from './types';

export interface Layout {
  orderBy: string[];
  partitionBy?: string;
}

export const SYNC_CONTROL = 'sync_control';

function onCluster(cluster?: string): string {
  return cluster ? ` ON CLUSTER ${chIdent(cluster)}` : '';
}

function engine(kind: 'MergeTree' | 'ReplacingMergeTree', database: string, table: string, cluster?: string): string {
  if (!cluster) return `${kind}()`;
  // Explicit path and replica macros work on every server version, old ones included.
  return `Replicated${kind}(${chString(`/clickhouse/tables/{shard}/${database}/${table}`)}, '{replica}')`;
}

export function createDatabaseSql(database: string, cluster?: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${chIdent(database)}${onCluster(cluster)}`;
}

/**
 * The seed's layout for event tables (monthly partitions, ordered by time then
 * id) when the table has a NOT NULL created_at; otherwise ordered by the cursor.
 * The cursor is always last in ORDER BY so ReplacingMergeTree collapses a
 * replayed row onto its first copy.
 */
export function defaultLayout(columns: ColumnPlan[], cursor: string): Layout {
  const created = columns.find((c) => c.name === 'created_at' && /^(DateTime|Date)/.test(c.chType));
  if (created && created.name !== cursor) {
    return { orderBy: [created.name, cursor], partitionBy: `toYYYYMM(${chIdent(created.name)})` };
  }
  return { orderBy: [cursor] };
}

export function createTableSql(opts: {
  database: string;
  table: string;
  columns: ColumnPlan[];
  layout: Layout;
  caps: ClickHouseCapabilities;
  cluster?: string;
}): string {
  const { database, table, columns, layout, caps, cluster } = opts;
  const cols = columns.map((c) => `    ${chIdent(c.name)} ${c.chType}`).join(',\n');
  const settings: string[] = [];
  // Non-replicated tables ignore insert_deduplication_token unless a window is set.
  if (!cluster && caps.dedupToken) settings.push('non_replicated_deduplication_window = 10000');
  return [
    `CREATE TABLE IF NOT EXISTS ${chQualified(database, table)}${onCluster(cluster)}`,
    `(\n${cols}\n)`,
    `ENGINE = ${engine('ReplacingMergeTree', database, table, cluster)}`,
    layout.partitionBy ? `PARTITION BY ${layout.partitionBy}` : '',
    `ORDER BY (${layout.orderBy.map(chIdent).join(', ')})`,
    settings.length ? `SETTINGS ${settings.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The seed's sync_control, plus columns that make each checkpoint traceable. */
export function createSyncControlSql(database: string, caps: ClickHouseCapabilities, cluster?: string): string {
  const settings = !cluster && caps.dedupToken ? '\nSETTINGS non_replicated_deduplication_window = 10000' : '';
  return `CREATE TABLE IF NOT EXISTS ${chQualified(database, SYNC_CONTROL)}${onCluster(cluster)}
(
    table_name   String,
    sync_date    Date,
    last_max_id  Int64,
    synced_at    DateTime,
    after_id     Nullable(Int64),
    rows_copied  UInt64,
    workflow_id  String
)
ENGINE = ${engine('MergeTree', database, SYNC_CONTROL, cluster)}
ORDER BY (table_name, sync_date, synced_at)${settings}`;
}

export const SYNC_RECHECK = 'sync_recheck';

/**
 * Chunks copied while other PostgreSQL transactions were open. Such a
 * transaction may hold ids inside the chunk and commit later ("late
 * commits"); each row here is checked again once every one of those
 * transactions has ended. done = 1 rows close a check (append-only, like
 * sync_control).
 */
export function createSyncRecheckSql(database: string, cluster?: string): string {
  return `CREATE TABLE IF NOT EXISTS ${chQualified(database, SYNC_RECHECK)}${onCluster(cluster)}
(
    table_name     String,
    after_id       Nullable(Int64),
    to_id          Int64,
    snapshot_xmin  UInt64,
    ready_at_xmin  UInt64,
    done           UInt8,
    rows_found     UInt64,
    created_at     DateTime
)
ENGINE = ${engine('MergeTree', database, SYNC_RECHECK, cluster)}
ORDER BY (table_name, to_id, snapshot_xmin)`;
}

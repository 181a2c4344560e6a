import type { ClickHouseCapabilities } from './clickhouse-version';
import { chIdent, chQualified, chString } from './quote';
import type { ColumnPlan } from './types';
import { VERSION_TYPE } from './copy-version';

export const ENGINES = ['MergeTree', 'ReplacingMergeTree', 'ReplicatedMergeTree', 'ReplicatedReplacingMergeTree'] as const;
export type EngineKind = (typeof ENGINES)[number];

export interface Layout {
  engine: EngineKind;
  orderBy: string[];
  partitionBy?: string;
  /** ReplacingMergeTree(version): the row with the largest version wins (updated mode). */
  version?: string;
  /**
   * A ClickHouse-only UInt64 column each copy stamps with its PostgreSQL
   * snapshot's xmax (core/copy-version.ts); version names it. Absent on
   * destinations made before it, whose version is the cursor.
   */
  versionColumn?: string;
  /** ReplacingMergeTree(version, is_deleted): FINAL hides rows marked deleted (23.2+). */
  isDeleted?: string;
  /** ON CLUSTER for the DDL. */
  cluster?: string;
}

export const SYNC_CONTROL = 'sync_control';

function onCluster(cluster?: string): string {
  return cluster ? ` ON CLUSTER ${chIdent(cluster)}` : '';
}

function engine(kind: EngineKind, database: string, table: string, params: string[] = []): string {
  if (!kind.startsWith('Replicated')) return `${kind}(${params.join(', ')})`;
  // Explicit path and replica macros work on every server version, old ones included.
  return `${kind}(${[chString(`/clickhouse/tables/{shard}/${database}/${table}`), "'{replica}'", ...params].join(', ')})`;
}

/**
 * Control tables on a cluster are Replicated. With several shards, every
 * host is a replica of one control table (a path without {shard}): a worker
 * on any shard reads the same watermark.
 */
function controlEngine(database: string, table: string, cluster?: string, sharded = false): string {
  if (!cluster) return engine('MergeTree', database, table);
  if (!sharded) return engine('ReplicatedMergeTree', database, table);
  return `ReplicatedMergeTree(${chString(`/clickhouse/tables/all/${database}/${table}`)}, '{shard}-{replica}')`;
}

/** The local tables of a sharded destination: the Distributed table over them takes the destination's name. */
export const LOCAL_SUFFIX = '_local';

/**
 * CREATE TABLE ... ENGINE = Distributed over each shard's local replicated
 * table; inserts through it are spread by shardingKey, reads gather every shard.
 */
export function createDistributedSql(database: string, table: string, cluster: string, shardingKey: string): string {
  const local = `${table}${LOCAL_SUFFIX}`;
  return `CREATE TABLE IF NOT EXISTS ${chQualified(database, table)}${onCluster(cluster)} AS ${chQualified(database, local)}
ENGINE = Distributed(${chIdent(cluster)}, ${chIdent(database)}, ${chIdent(local)}, ${shardingKey})`;
}

/** The default sharding key: a hash of the row's key (or the cursor), so one row always lands on one shard. */
export function defaultShardingKey(columns: string[]): string {
  return `cityHash64(${columns.map(chIdent).join(', ')})`;
}

export function createDatabaseSql(database: string, cluster?: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${chIdent(database)}${onCluster(cluster)}`;
}

export function createTableSql(opts: {
  database: string;
  table: string;
  columns: ColumnPlan[];
  layout: Layout;
  caps: ClickHouseCapabilities;
}): string {
  const { database, table, columns, layout, caps } = opts;
  const all = layout.versionColumn ? [...columns, { name: layout.versionColumn, chType: VERSION_TYPE }] : columns;
  const cols = all.map((c) => `    ${chIdent(c.name)} ${c.chType}`).join(',\n');
  const settings: string[] = [];
  const replicated = layout.engine.startsWith('Replicated');
  // Non-replicated tables ignore insert_deduplication_token unless a window is set.
  if (!replicated && caps.dedupToken) settings.push('non_replicated_deduplication_window = 10000');
  const params = layout.version ? [chIdent(layout.version), ...(layout.isDeleted ? [chIdent(layout.isDeleted)] : [])] : [];
  return [
    `CREATE TABLE IF NOT EXISTS ${chQualified(database, table)}${onCluster(layout.cluster)}`,
    `(\n${cols}\n)`,
    `ENGINE = ${engine(layout.engine, database, table, params)}`,
    layout.partitionBy ? `PARTITION BY ${layout.partitionBy}` : '',
    `ORDER BY (${layout.orderBy.map(chIdent).join(', ')})`,
    settings.length ? `SETTINGS ${settings.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The seed's sync_control, plus columns that make each checkpoint traceable. */
export function createSyncControlSql(database: string, caps: ClickHouseCapabilities, cluster?: string, sharded = false): string {
  const settings = !cluster && caps.dedupToken ? '\nSETTINGS non_replicated_deduplication_window = 10000' : '';
  return `CREATE TABLE IF NOT EXISTS ${chQualified(database, SYNC_CONTROL)}${onCluster(cluster)}
(
    table_name   String,
    sync_date    Date,
    last_max_id  Int64,
    synced_at    DateTime,
    after_id     Nullable(Int64),
    rows_copied  UInt64,
    workflow_id  String,
    last_key     Nullable(String),
    cursor_name  Nullable(String),
    table_settings Nullable(String),
    resume_from  Nullable(Int64)
)
ENGINE = ${controlEngine(database, SYNC_CONTROL, cluster, sharded)}
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
export function createSyncRecheckSql(database: string, cluster?: string, sharded = false): string {
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
ENGINE = ${controlEngine(database, SYNC_RECHECK, cluster, sharded)}
ORDER BY (table_name, to_id, snapshot_xmin)`;
}

/**
 * Columns added to sync_control after its first release, created on tables
 * made before. last_key: the tiebreak of a timestamp cursor's position
 * (last_max_id then holds the time in microseconds). cursor_name: the cursor
 * the checkpoint was written under (a watermark means nothing under another).
 * table_settings: the settings the run had, as JSON (names and choices, no
 * secrets), so verify and status find them without the config file.
 * resume_from: updated mode's horizon, microseconds (core/horizon.ts).
 */
export const SYNC_CONTROL_ADDED: Array<[string, string]> = [
  ['last_key', 'Nullable(String)'],
  ['cursor_name', 'Nullable(String)'],
  ['table_settings', 'Nullable(String)'],
  ['resume_from', 'Nullable(Int64)'],
];

/** ALTER TABLE ... ADD COLUMN for a column PostgreSQL gained; `defaultSql` is what rows copied before it hold. */
export function addColumnSql(database: string, table: string, column: { name: string; chType: string }, cluster?: string, defaultSql?: string): string {
  return `ALTER TABLE ${chQualified(database, table)}${onCluster(cluster)} ADD COLUMN ${chIdent(column.name)} ${column.chType}${defaultSql ? ` DEFAULT ${defaultSql}` : ''}`;
}

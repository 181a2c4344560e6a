// Pure logic of the CDC source (mode cdc): names, LSN arithmetic, versions,
// batch closing and the mapping of decoded changes to destination rows.
// No I/O here: sources/ reads the replication stream, activities/ writes.
import type { ClickHouseCapabilities } from './clickhouse-version';
import type { Layout } from './ddl';
import { UserError } from './errors';
import { renderChangeRow } from './change-values';
import { chIdent, chQualified, chString } from './quote';
import { tableKey, type SourceTable } from './table-name';
import type { SourceSchema } from './table-plan';
import { settingsFor, type ConfigFile, type TableSettings } from './table-settings';
import { mapColumn } from './type-map';
import type { ColumnPlan, TablePlan } from './types';

/** The destination's version column: the WAL position of the change (see changeVersion). */
export const CDC_VERSION_COLUMN = '_version';
/** The destination's deleted flag: 1 for a row deleted in PostgreSQL (FINAL ... WHERE _deleted = 0 hides it). */
export const CDC_DELETED_COLUMN = '_deleted';
/** The control table beside sync_control: one row per written batch, its end LSN. */
export const CDC_CONTROL = 'cdc_control';
export const DEFAULT_STREAM = 'default';

const STREAM_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/** A stream name becomes part of a slot name (lowercase letters, digits, _; 63 bytes at most). */
export function checkStreamName(name: string): string {
  if (!STREAM_NAME.test(name)) {
    throw new UserError(`stream name ${JSON.stringify(name)} is invalid: expected lowercase letters, digits and _ (starting with a letter, at most 40), such as default`, 'BadConfig');
  }
  return name;
}

/** What a stream is called in PostgreSQL and Temporal. */
export function streamNames(stream: string): { slot: string; publication: string; workflowId: string } {
  checkStreamName(stream);
  return { slot: `pg2ch_${stream}`, publication: `pg2ch_${stream}`, workflowId: cdcWorkflowId(stream) };
}

export function cdcWorkflowId(stream: string): string {
  return `cdc:${stream}`;
}

/** `16/B374D848` -> its 64-bit position. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * The version of a change: the WAL position of its own record (pgoutput
 * sends each change at it), never a clock. Within a transaction positions
 * grow with the change's place in it, and a commit lies after all of its
 * records; across transactions, a row changed by two of them was locked by
 * the first until its commit, so the second's record lies after that
 * commit. So for any one key, versions grow in commit order, and a replayed
 * change gets the same version (identical rows, which collapse). Unlike
 * commitLsn * k + position it cannot overflow UInt64 for any transaction size.
 */
export function changeVersion(changeLsn: string): string {
  return parseLsn(changeLsn).toString();
}

/** Settings that mean nothing for a cdc table (they steer the watermark copy). */
const WATERMARK_ONLY = ['cursor', 'tiebreak', 'chunkRows', 'lookbackSeconds', 'softDelete', 'engine', 'orderBy'] as const;

/** A cdc table's settings, checked: one line naming the key and the fix. */
export function checkCdcSettings(key: string, settings: TableSettings): void {
  for (const k of WATERMARK_ONLY) {
    if (settings[k] !== undefined) {
      throw new UserError(`table ${key}: ${k} does not apply to mode cdc (changes come from PostgreSQL's log, into ReplacingMergeTree(${CDC_VERSION_COLUMN}) ordered by the primary key); remove it`, 'BadConfig');
    }
  }
  if (settings.stream !== undefined) checkStreamName(settings.stream);
}

export function streamOf(settings: TableSettings): string {
  return settings.stream ?? DEFAULT_STREAM;
}

/** The config file's mode cdc tables by stream, in file order; each table's settings over the defaults. */
export function cdcStreams(config: ConfigFile | undefined): Map<string, Array<{ table: string; settings: TableSettings }>> {
  const out = new Map<string, Array<{ table: string; settings: TableSettings }>>();
  if (!config) return out;
  for (const key of config.tables.keys()) {
    const settings = settingsFor(config, key);
    if (settings.mode !== 'cdc') continue;
    checkCdcSettings(key, settings);
    const stream = streamOf(settings);
    if (!out.has(stream)) out.set(stream, []);
    out.get(stream)!.push({ table: key, settings });
  }
  return out;
}

/** Columns the destination holds beside the table's own. */
export function cdcMetaColumns(version = '0', deleted = '0'): ColumnPlan[] {
  return [
    { name: CDC_VERSION_COLUMN, pgType: 'pg_lsn', chType: 'UInt64', select: `${version}::int8`, pullSafe: false },
    { name: CDC_DELETED_COLUMN, pgType: 'boolean', chType: 'UInt8', select: `${deleted}::int`, pullSafe: false },
  ];
}

const bad = (msg: string) => new UserError(msg, 'BadConfig');

/**
 * A cdc table's plan: the type map every mode uses (mapColumn), the primary
 * key as ORDER BY, and the version and deleted columns. `columns` holds the
 * table's own columns then _version and _deleted (the initial copy's select
 * writes version 0, below every change's).
 */
export function buildCdcPlan(source: SourceTable, schema: SourceSchema, settings: TableSettings, caps: ClickHouseCapabilities, database: string, cluster?: string): TablePlan {
  const key = tableKey(source);
  checkCdcSettings(key, settings);
  if (schema.primaryKey.length === 0) {
    throw bad(`table ${key} has no primary key, and a CDC destination keeps one row per key (deletes and updates name rows by it); add a primary key in PostgreSQL (ALTER TABLE ${key} ADD PRIMARY KEY (...)) or sync it with mode append`);
  }
  const exclude = new Set(settings.exclude ?? []);
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  for (const name of Object.keys(settings.types ?? {})) {
    if (!byName.has(name)) throw bad(`table ${key}: types names column ${JSON.stringify(name)}, which the table does not have`);
  }
  for (const c of schema.primaryKey) {
    if (exclude.has(c)) throw bad(`table ${key}: exclude names ${JSON.stringify(c)}, which is in the primary key; a CDC destination needs it`);
  }
  for (const c of schema.columns) {
    if (c.name === CDC_VERSION_COLUMN || c.name === CDC_DELETED_COLUMN) {
      throw bad(`table ${key} has a column named ${c.name}, which pg2ch's CDC destination uses for itself; exclude it in the config file or rename it`);
    }
  }
  const pk = new Set(schema.primaryKey);
  const columns = schema.columns
    .filter((c) => !exclude.has(c.name))
    .map((c) => mapColumn(c, caps, { key: pk.has(c.name), numeric: settings.numeric, json: settings.json, outOfRange: settings.outOfRange, override: settings.types?.[c.name] }));
  const replicated = !!(settings.cluster ?? cluster);
  const layout: Layout = {
    engine: replicated ? 'ReplicatedReplacingMergeTree' : 'ReplacingMergeTree',
    orderBy: schema.primaryKey,
    version: CDC_VERSION_COLUMN,
    ...(caps.isDeleted ? { isDeleted: CDC_DELETED_COLUMN } : {}),
    ...(settings.partitionBy !== undefined ? { partitionBy: settings.partitionBy } : {}),
    ...((settings.cluster ?? cluster) ? { cluster: settings.cluster ?? cluster } : {}),
  };
  return {
    key,
    source,
    destination: { database, table: settings.destination ?? (source.schema === 'public' ? source.name : `${source.schema}_${source.name}`) },
    cursor: schema.primaryKey[0]!,
    mode: 'cdc',
    rowKey: schema.primaryKey,
    columns: [...columns, ...cdcMetaColumns()],
    layout,
    excluded: [...exclude],
    lookbackSeconds: 0,
    outOfRange: settings.outOfRange ?? 'fail',
    sourceSignature: '',
    dedupToken: caps.dedupToken,
    strategy: 'push',
    clickhouseVersion: caps.version,
    ...(Object.keys(settings).length > 0 ? { settings } : {}),
  };
}

/** A tuple as decoded: text per column name, null for NULL, undefined for an unchanged TOAST value or a column not sent. */
export type Tuple = Record<string, string | null | undefined>;

/** One decoded row change of a transaction. */
export type RowChange =
  | { kind: 'insert'; lsn: string; table: string; new: Tuple }
  | { kind: 'update'; lsn: string; table: string; old: Tuple | null; new: Tuple }
  | { kind: 'delete'; lsn: string; table: string; old: Tuple };

/** Lines for a table's two inserts: whole rows, and deleted keys (other columns take their defaults). */
export interface TableLines {
  rows: string[];
  deletes: string[];
}

const ownColumns = (plan: TablePlan) => plan.columns.filter((c) => c.name !== CDC_VERSION_COLUMN && c.name !== CDC_DELETED_COLUMN);
export const keyColumnsOf = (plan: TablePlan): ColumnPlan[] => plan.rowKey!.map((k) => plan.columns.find((c) => c.name === k)!);

/** Column names of the deleted-key insert, in its order. */
export function deleteColumns(plan: TablePlan): string[] {
  return [...plan.rowKey!, CDC_VERSION_COLUMN, CDC_DELETED_COLUMN];
}

function unchangedToast(plan: TablePlan, change: RowChange, column: string): UserError {
  return new UserError(
    `table ${plan.key}: PostgreSQL sent column ${JSON.stringify(column)} of a changed row as "unchanged TOAST value" without its content, so it cannot be written exactly; nothing of it was written. ` +
      `Run ALTER TABLE ${plan.key} REPLICA IDENTITY FULL, then pg2ch cdc drop and pg2ch cdc start (at ${change.lsn})`,
    'UnchangedToast',
  );
}

/** A whole row at a version: the renderer the copy path agrees with (core/change-values.ts), then _version, _deleted = 0. */
export function rowLine(plan: TablePlan, change: RowChange, tuple: Tuple, version: string): string {
  const cols = ownColumns(plan);
  const values = cols.map((c) => {
    const v = tuple[c.name];
    if (v === undefined) throw unchangedToast(plan, change, c.name);
    return v;
  });
  return `${renderChangeRow(cols, values).slice(0, -1)}\t${version}\t0\n`;
}

/** A deleted key at a version: key columns from the old tuple. */
export function deleteLine(plan: TablePlan, change: RowChange, old: Tuple, version: string): string {
  const cols = keyColumnsOf(plan);
  const values = cols.map((c) => {
    const v = old[c.name];
    if (v === undefined || v === null) throw new UserError(`table ${plan.key}: a delete at ${change.lsn} came without its primary key column ${JSON.stringify(c.name)}; set REPLICA IDENTITY DEFAULT or FULL on the table`, 'MissingKey');
    return v;
  });
  return `${renderChangeRow(cols, values).slice(0, -1)}\t${version}\t1\n`;
}

/** The primary key of a tuple, as text, or undefined when the tuple lacks one of its columns. */
function keyText(plan: TablePlan, t: Tuple | null): string | undefined {
  if (!t) return undefined;
  const parts: string[] = [];
  for (const k of plan.rowKey!) {
    const v = t[k];
    if (v === undefined || v === null) return undefined;
    parts.push(v);
  }
  return JSON.stringify(parts);
}

/**
 * A change as destination lines. An update whose primary key changed (the
 * old tuple then carries the old key) is a delete of the old key plus the
 * new row: both at the change's version, on different keys.
 */
export function changeLines(plan: TablePlan, change: RowChange, out: TableLines): void {
  const version = changeVersion(change.lsn);
  if (change.kind === 'delete') {
    out.deletes.push(deleteLine(plan, change, change.old, version));
    return;
  }
  if (change.kind === 'update') {
    const before = keyText(plan, change.old);
    if (before !== undefined && before !== keyText(plan, change.new)) out.deletes.push(deleteLine(plan, change, change.old!, version));
  }
  out.rows.push(rowLine(plan, change, change.new, version));
}

export interface BatchLimits {
  /** Changes a batch holds at most before it is written. */
  maxChanges: number;
  /** Milliseconds a change waits at most before its batch is written. */
  maxWaitMs: number;
}

export const DEFAULT_BATCH: BatchLimits = { maxChanges: 50_000, maxWaitMs: 1_000 };

/**
 * When the pending changes are written. The checkpoint is always a commit's
 * end, so a batch is closed only between transactions; a transaction larger
 * than a batch is written in parts (pgoutput sends committed transactions
 * only, and a replay of it rewrites identical rows) and checkpointed at its end.
 */
export function batchDue(pending: number, firstAt: number | undefined, now: number, limits: BatchLimits): boolean {
  if (pending === 0 || firstAt === undefined) return false;
  return pending >= limits.maxChanges || now - firstAt >= limits.maxWaitMs;
}

/**
 * A transaction is in ClickHouse already when its commit record begins
 * before the checkpoint (the end of a checkpointed commit, or a position
 * the server had passed while no transaction was open): a restart skips it.
 * The next transaction's commit may begin exactly at the checkpoint, so the
 * comparison is strict.
 */
export function beganBeforeCheckpoint(commitLsn: string, checkpoint: string | null): boolean {
  return checkpoint !== null && parseLsn(commitLsn) < parseLsn(checkpoint);
}

/** The control table: append-only, read by its largest lsn per stream. */
export function createCdcControlSql(database: string, cluster?: string): string {
  const on = cluster ? ` ON CLUSTER ${chIdent(cluster)}` : '';
  const engine = cluster ? `ReplicatedMergeTree(${chString(`/clickhouse/tables/{shard}/${database}/${CDC_CONTROL}`)}, '{replica}')` : 'MergeTree()';
  return `CREATE TABLE IF NOT EXISTS ${chQualified(database, CDC_CONTROL)}${on}
(
    stream       String,
    kind         String,
    table_name   String,
    lsn          UInt64,
    lsn_text     String,
    changes      UInt64,
    workflow_id  String,
    written_at   DateTime
)
ENGINE = ${engine}
ORDER BY (stream, kind, lsn)`;
}

/** A relation message's columns as `name:typeOid:typmod`, to tell a schema change from a repeat. */
export function relationShape(columns: ReadonlyArray<{ name: string; typeOid: number; typeMod: number }>): string {
  return columns.map((c) => `${c.name}:${c.typeOid}:${c.typeMod}`).join(',');
}

/** What `pg2ch cdc status` shows of a stream (read by the worker: slot from PostgreSQL, checkpoint from ClickHouse). */
export interface StreamStatus {
  stream: string;
  slot: { active: boolean; confirmedLsn: string | null; retainedBytes: string } | null;
  /** The last checkpointed LSN in cdc_control, and when it was written (UTC). */
  checkpoint: string | null;
  lastBatchAt: string | null;
  /** PostgreSQL's current WAL position. */
  currentLsn: string;
  /** Seconds since the last checkpoint while WAL past it exists; 0 when caught up. */
  secondsBehind: number;
  warnings: string[];
}

/** Slot lag alert (PeerDB's default is 5,000 MB); PG2CH_CDC_WAL_WARN_BYTES moves it. */
export const DEFAULT_WAL_WARN_BYTES = 5_000_000_000n;

/** Warnings for a stream's status: no slot, an inactive slot, too much WAL kept. */
export function streamWarnings(s: Omit<StreamStatus, 'warnings'>, warnBytes = DEFAULT_WAL_WARN_BYTES): string[] {
  const out: string[] = [];
  const slot = `pg2ch_${s.stream}`;
  if (!s.slot) return [`slot ${slot} does not exist: run pg2ch cdc start`];
  if (!s.slot.active) out.push(`slot ${slot} is inactive: no stream reads it, and PostgreSQL keeps WAL for it; run pg2ch cdc start (or pg2ch cdc drop)`);
  if (BigInt(s.slot.retainedBytes) > warnBytes) out.push(`slot ${slot} retains ${s.slot.retainedBytes} bytes of WAL (over ${warnBytes}): the stream is behind or stopped`);
  return out;
}

export function secondsBehind(currentLsn: string, checkpoint: string | null, lastBatchAt: string | null, now: number): number {
  if (!checkpoint || !lastBatchAt) return 0;
  if (parseLsn(currentLsn) <= parseLsn(checkpoint)) return 0;
  return Math.max(0, Math.round((now - Date.parse(`${lastBatchAt.replace(' ', 'T')}Z`)) / 1000));
}

export function formatStreamStatus(s: StreamStatus): string {
  const lines = [
    `stream ${s.stream}: slot pg2ch_${s.stream} ${s.slot ? (s.slot.active ? 'active' : 'inactive') : 'missing'}, confirmed ${s.slot?.confirmedLsn ?? '-'}, WAL retained ${s.slot?.retainedBytes ?? '0'} bytes, ` +
      `checkpoint ${s.checkpoint ?? '-'}, last batch ${s.lastBatchAt ? `${s.lastBatchAt} UTC` : '-'}, ${s.secondsBehind} s behind`,
    ...s.warnings.map((w) => `  warning: ${w}`),
  ];
  return lines.join('\n');
}

import type { ClickHouseCapabilities } from './clickhouse-version';
import { VERSION_COLUMN, VERSION_COLUMN_ALT } from './copy-version';
import type { Layout } from './ddl';
import { UserError } from './errors';
import type { Keyset } from './keyset';
import { chIdent, pgIdent } from './quote';
import { tableKey, type SourceTable } from './table-name';
import type { TableSettings } from './table-settings';
import { isIntegerType, isTimestampType, mapColumn, type PgColumn } from './type-map';
import type { ColumnPlan, TablePlan } from './types';

export interface SourceSchema {
  columns: PgColumn[];
  primaryKey: string[];
  /**
   * Other unique indexes that identify a row: valid, not partial, not
   * deferrable, on plain NOT NULL columns only (a NULL never collides).
   */
  uniqueKeys?: string[][];
  /** Columns that lead a valid, non-partial index (on every partition of a partitioned table); undefined: not known. */
  indexed?: string[];
  /** A partitioned table's partition key columns; empty when it is not partitioned or the key holds an expression. */
  partitionKey?: string[];
}

export interface PlanTarget {
  caps: ClickHouseCapabilities;
  database: string;
  /** CLICKHOUSE_CLUSTER; a table's `cluster` setting wins. */
  cluster?: string;
}

const bad = (msg: string) => new UserError(msg, 'BadConfig');
const names = (cols: string[]) => cols.map((c) => JSON.stringify(c)).join(', ');

/** The column sets that identify a row: the primary key first, then unique indexes, fewest columns first. */
export function rowKeys(schema: SourceSchema): string[][] {
  const unique = [...(schema.uniqueKeys ?? [])].sort((a, b) => a.length - b.length);
  return [...(schema.primaryKey.length > 0 ? [schema.primaryKey] : []), ...unique];
}

const isKeyIn = (k: string[], cols: string[]) => k.every((c) => cols.includes(c));

function describeKey(schema: SourceSchema, k: string[]): string {
  return `${k === schema.primaryKey ? 'the primary key' : 'a unique index'} (${names(k)})`;
}

/** A column that leads an index (a key's first column leads the key's own index). */
function leadsIndex(schema: SourceSchema, name: string): boolean {
  return (schema.indexed ?? []).includes(name) || rowKeys(schema).some((k) => k[0] === name);
}

/**
 * The default tiebreak of a timestamp cursor: a column that, alone (or, in
 * append mode, with the time), is a row key; undefined when none is.
 */
function defaultTiebreak(schema: SourceSchema, time: string, mode: string): string | undefined {
  const keys = rowKeys(schema);
  const single = keys.find((k) => k.length === 1 && k[0] !== time);
  if (schema.primaryKey.length === 1 && schema.primaryKey[0] !== time) return schema.primaryKey[0];
  if (mode !== 'updated') {
    const pair = keys.find((k) => k.length === 2 && k.includes(time));
    if (pair) return pair.find((c) => c !== time);
  }
  return single?.[0];
}

/**
 * The default cursor. First what always was (the single-column integer
 * primary key, else an integer `id`), so tables synced before keep theirs;
 * then an integer column of a row key that an index can range over (the
 * leading column of a composite key, e.g. actor_id of film_actor(actor_id,
 * film_id)); then the partition key (a timestamp one with a tiebreak); then a
 * timestamp leading a row key.
 */
export function chooseCursor(schema: SourceSchema, key: string, mode = 'append'): string {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const pk = schema.primaryKey.length === 1 ? byName.get(schema.primaryKey[0]!) : undefined;
  if (pk && isIntegerType(pk.typname)) return pk.name;
  const id = byName.get('id');
  if (id && isIntegerType(id.typname)) return id.name;
  const keyColumns = [...new Set(rowKeys(schema).flat())].map((n) => byName.get(n)!).filter((c) => c && c.notNull && leadsIndex(schema, c.name));
  const integerKey = keyColumns.find((c) => isIntegerType(c.typname));
  if (integerKey) return integerKey.name;
  const usableTime = (c: PgColumn | undefined) => c !== undefined && c.notNull && isTimestampType(c.typname) && defaultTiebreak(schema, c.name, mode) !== undefined;
  const part = byName.get(schema.partitionKey?.[0] ?? '');
  if (part && part.notNull && isIntegerType(part.typname)) return part.name;
  if (part && usableTime(part)) return part.name;
  const timeKey = keyColumns.find((c) => usableTime(c));
  if (timeKey) return timeKey.name;
  throw new UserError(
    `table ${key} has no integer cursor column: pg2ch needs a single-column integer primary key or an integer column named "id", ` +
      `or a cursor named in the config file (tables: {${JSON.stringify(key)}: {cursor: <integer or timestamp column>}})`,
    'MissingCursor',
  );
}

/**
 * The tiebreak must make (time, tiebreak) unique, or rows sharing both would
 * be skipped or doubled at a chunk's end: it is a row key alone, or, in
 * append mode where the time never changes, together with the time.
 */
function tiebreakFor(schema: SourceSchema, key: string, settings: TableSettings, byName: Map<string, PgColumn>, time: string, mode: string): PgColumn {
  const name = settings.tiebreak ?? defaultTiebreak(schema, time, mode);
  const col = name === undefined ? undefined : byName.get(name);
  if (!col) {
    throw bad(
      name === undefined
        ? `table ${key}: a timestamp cursor needs a unique column to order rows that share a time; the table has no primary key or unique index to take it from, so add one in PostgreSQL and name its column in tiebreak`
        : `table ${key}: tiebreak column ${JSON.stringify(name)} does not exist`,
    );
  }
  if (!col.notNull) throw bad(`table ${key}: tiebreak column ${JSON.stringify(col.name)} is nullable; choose a NOT NULL unique column`);
  const unique = rowKeys(schema).some((k) => isKeyIn(k, mode === 'updated' ? [col.name] : [time, col.name]));
  if (!unique) {
    throw bad(
      `table ${key}: tiebreak column ${JSON.stringify(col.name)} is not unique${mode === 'updated' ? '' : ` (nor with ${JSON.stringify(time)})`}: no primary key or unique index holds only ${mode === 'updated' ? 'it' : 'them'}, ` +
        `so rows sharing a time and a tiebreak would be skipped or doubled; name a column with a primary key or unique index, or add one in PostgreSQL`,
    );
  }
  return col;
}

/**
 * Warnings about a plan that works but reads slowly: a cursor no index
 * leads makes every chunk scan the whole table (every partition).
 */
export function planWarnings(schema: SourceSchema, plan: Pick<TablePlan, 'key' | 'cursor' | 'keyset'>): string[] {
  if (schema.indexed === undefined || leadsIndex(schema, plan.cursor)) return [];
  const partitioned = (schema.partitionKey?.length ?? 0) > 0;
  return [
    `table ${plan.key}: no index starts with the cursor ${JSON.stringify(plan.cursor)}${partitioned ? ' (on every partition)' : ''}, so every chunk scans the whole table; ` +
      `create one (CREATE INDEX ON ... (${pgIdent(plan.cursor)}${plan.keyset ? `, ${pgIdent(plan.keyset.tiebreak)}` : ''})) or choose an indexed cursor in the config file`,
  ];
}

/**
 * Everything decided about how a table is copied, from its catalog entry and
 * its settings: cursor, columns and their ClickHouse types, engine and keys.
 * Pure, so every rule here has a unit test.
 */
export function buildPlan(
  source: SourceTable,
  schema: SourceSchema,
  settings: TableSettings,
  target: PlanTarget,
): Omit<TablePlan, 'strategy' | 'sourceSignature'> {
  const key = tableKey(source);
  const { caps } = target;
  const mode = settings.mode ?? 'append';
  if (mode === 'cdc') throw bad(`table ${key} has mode cdc in the config file: it is streamed by pg2ch cdc start (stream ${JSON.stringify(settings.stream ?? 'default')}), not copied by sync`);
  if (settings.stream !== undefined) throw bad(`table ${key}: stream applies to mode cdc only; set mode: cdc or remove stream`);
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  for (const name of Object.keys(settings.types ?? {})) {
    if (!byName.has(name)) throw bad(`table ${key}: types names column ${JSON.stringify(name)}, which the table does not have`);
  }

  // The cursor: integer (append) or timestamp with a tiebreak (keyset).
  let cursorName: string;
  if (settings.cursor !== undefined) cursorName = settings.cursor;
  else if (mode === 'updated') {
    if (!byName.has('updated_at')) throw bad(`table ${key}: mode updated needs the column rows are stamped with on change; the table has no updated_at, so set cursor in the config file`);
    cursorName = 'updated_at';
  } else cursorName = chooseCursor(schema, key, mode);
  const cursorCol = byName.get(cursorName);
  if (!cursorCol) throw bad(`table ${key}: cursor column ${JSON.stringify(cursorName)} does not exist`);
  const integerCursor = isIntegerType(cursorCol.typname);
  if (!integerCursor && !isTimestampType(cursorCol.typname)) {
    throw bad(`table ${key}: cursor column ${JSON.stringify(cursorName)} is ${cursorCol.type}; expected an integer or a timestamp/date column`);
  }
  if (mode === 'updated' && integerCursor) {
    throw bad(`table ${key}: mode updated needs a timestamp cursor such as updated_at, and ${JSON.stringify(cursorName)} is ${cursorCol.type}`);
  }
  if (!cursorCol.notNull && !(integerCursor && settings.cursor === undefined)) {
    throw bad(`table ${key}: cursor column ${JSON.stringify(cursorName)} is nullable, and rows with NULL there would never be copied; make it NOT NULL or choose another cursor`);
  }
  let keyset: Keyset | undefined;
  if (!integerCursor) {
    const tb = tiebreakFor(schema, key, settings, byName, cursorName, mode);
    keyset = { time: cursorName, timeType: cursorCol.typname as Keyset['timeType'], tiebreak: tb.name, tiebreakType: tb.type };
  }
  const identity = keyset ? (mode === 'updated' ? [keyset.tiebreak] : [keyset.time, keyset.tiebreak]) : [cursorName];

  const exclude = new Set(settings.exclude ?? []);
  for (const name of [cursorName, ...(keyset ? [keyset.tiebreak] : [])]) {
    if (exclude.has(name)) throw bad(`table ${key}: exclude names ${JSON.stringify(name)}, which is the cursor; it cannot be left out`);
  }
  if (settings.softDelete !== undefined && exclude.has(settings.softDelete)) {
    throw bad(`table ${key}: softDelete names ${JSON.stringify(settings.softDelete)}, which exclude leaves out; keep it copied`);
  }
  if (settings.softDelete !== undefined && mode !== 'updated') {
    throw bad(`table ${key}: softDelete needs mode updated (rows marked deleted are updates)`);
  }

  // Row keys whose columns are all copied; a replacing ORDER BY must hold one.
  const allKeys = rowKeys(schema);
  const keys = allKeys.filter((k) => k.every((c) => !exclude.has(c)));
  const baseOrder = defaultOrderBy(mode, identity, schema.columns, cursorName, exclude);
  const defaultKey = keys.find((k) => isKeyIn(k, baseOrder)) ?? keys[0];
  const orderBy = settings.orderBy ?? [...baseOrder, ...(defaultKey ?? []).filter((c) => !baseOrder.includes(c))];
  const engine = settings.engine ?? 'ReplacingMergeTree';
  const cluster = settings.cluster ?? target.cluster;
  const replacing = engine.includes('Replacing');
  // The cursor still chooses which rows each run reads; versions are ordered by the copy's snapshot (core/copy-version.ts).
  const version = mode === 'updated' ? cursorName : undefined;
  const versionColumn = mode === 'updated' ? versionColumnFor(key, byName, settings) : undefined;
  if (mode === 'updated' && !replacing) throw bad(`table ${key}: mode updated needs engine ReplacingMergeTree (or ReplicatedReplacingMergeTree) so an updated row replaces its old version; got ${engine}`);
  let rowKey: string[] | undefined;
  if (replacing) {
    if (allKeys.length === 0) {
      throw bad(
        `table ${key} has no primary key or unique index (on NOT NULL columns), and ReplacingMergeTree keeps one row per ORDER BY key, so rows sharing one would be lost; ` +
          `add a primary key in PostgreSQL, or set engine: MergeTree for ${key} in the config file (rows are only appended)`,
      );
    }
    if (keys.length === 0) {
      const k = allKeys[0]!;
      throw bad(`table ${key}: exclude leaves out ${names(k.filter((c) => exclude.has(c)))} of the row's key, ${describeKey(schema, k)}, which ReplacingMergeTree needs in its ORDER BY; keep it copied`);
    }
    rowKey = keys.find((k) => isKeyIn(k, orderBy));
    if (!rowKey) {
      const k = keys[0]!;
      const missing = k.filter((c) => !orderBy.includes(c));
      throw bad(
        `table ${key}: orderBy must include ${missing.map((c) => JSON.stringify(c)).join(' and ')} of the row's key, ${describeKey(schema, k)}: ReplacingMergeTree keeps one row per ORDER BY key, so rows would be lost`,
      );
    }
    if (version && orderBy.includes(version)) {
      throw bad(`table ${key}: orderBy must not include the updated mode cursor ${JSON.stringify(version)}: each version would stay a row of its own`);
    }
  }
  const keyColumns = new Set([...orderBy, ...identity, ...(version ? [version] : [])]);
  const columns: ColumnPlan[] = [];
  let isDeleted: string | undefined;
  for (const col of schema.columns) {
    if (exclude.has(col.name)) continue;
    if (keyColumns.has(col.name) && !col.notNull && col.name !== cursorName) {
      throw bad(`table ${key}: orderBy column ${JSON.stringify(col.name)} is nullable in PostgreSQL, and ClickHouse cannot sort by a Nullable column; choose NOT NULL columns`);
    }
    if (col.name === settings.softDelete && col.typname === 'bool') {
      // ReplacingMergeTree's is_deleted is a UInt8; NULL counts as not deleted.
      columns.push({
        name: col.name, pgType: col.type, chType: 'UInt8', select: `coalesce(${pgIdent(col.name)}, false)::int`, pullSafe: false,
        render: { value: { kind: 'bool', digit: true }, nullAs: '0' },
      });
      isDeleted = col.name;
      continue;
    }
    columns.push(
      mapColumn(col, caps, {
        key: keyColumns.has(col.name),
        numeric: settings.numeric,
        json: settings.json,
        outOfRange: settings.outOfRange,
        override: settings.types?.[col.name],
      }),
    );
  }
  for (const name of orderBy) {
    if (!columns.some((c) => c.name === name)) throw bad(`table ${key}: orderBy names column ${JSON.stringify(name)}, which is not copied (missing or excluded)`);
  }
  if (settings.softDelete !== undefined && isDeleted === undefined) {
    const col = byName.get(settings.softDelete);
    if (!col) throw bad(`table ${key}: softDelete column ${JSON.stringify(settings.softDelete)} does not exist`);
    // A deleted_at-style column: kept as it is, plus a flag computed from it.
    const flag = byName.has('is_deleted') ? '_pg2ch_is_deleted' : 'is_deleted';
    columns.push({ name: flag, pgType: `(${col.name} IS NOT NULL)`, chType: 'UInt8', select: `(${pgIdent(col.name)} IS NOT NULL)::int`, pullSafe: false });
    isDeleted = flag;
  }
  const layout: Layout = {
    engine: cluster && !engine.startsWith('Replicated') ? (`Replicated${engine}` as Layout['engine']) : engine,
    orderBy,
    ...(settings.partitionBy !== undefined ? { partitionBy: settings.partitionBy } : defaultPartition(mode, orderBy, columns)),
    ...(versionColumn ? { version: versionColumn, versionColumn } : {}),
    ...(isDeleted && caps.isDeleted ? { isDeleted } : {}),
    ...(cluster ? { cluster } : {}),
  };
  return {
    key,
    source,
    // Same-named tables of different schemas must not share a destination.
    destination: { database: target.database, table: settings.destination ?? (source.schema === 'public' ? source.name : `${source.schema}_${source.name}`) },
    cursor: cursorName,
    mode,
    ...(rowKey ? { rowKey } : {}),
    // Several rows may share an integer cursor value: paths that look rows up by it compare whole values.
    ...(integerCursor && !allKeys.some((k) => k.length === 1 && k[0] === cursorName) ? { cursorShared: true } : {}),
    ...(keyset ? { keyset } : {}),
    columns,
    layout,
    excluded: [...exclude],
    ...(isDeleted ? { softDelete: isDeleted } : {}),
    lookbackSeconds: settings.lookbackSeconds ?? 0,
    outOfRange: settings.outOfRange ?? 'fail',
    // Keyset ranges can hold different rows over time (updates move rows), so a token could drop a real change.
    dedupToken: caps.dedupToken && !keyset,
    clickhouseVersion: caps.version,
  };
}

/**
 * The name of updated mode's version column: `_version`, or `_pg2ch_version`
 * beside a PostgreSQL column of that name (as the soft-delete flag does). A
 * config naming it in types or exclude would name a column pg2ch writes.
 */
function versionColumnFor(key: string, byName: Map<string, PgColumn>, settings: TableSettings): string {
  if (byName.has(VERSION_COLUMN_ALT)) throw bad(`table ${key}: mode updated adds a ClickHouse column ${JSON.stringify(VERSION_COLUMN_ALT)}, and the PostgreSQL table has one; rename it there or use mode append`);
  const name = byName.has(VERSION_COLUMN) ? VERSION_COLUMN_ALT : VERSION_COLUMN;
  for (const [what, names] of [['exclude', settings.exclude ?? []], ['types', Object.keys(settings.types ?? {})]] as const) {
    if (names.includes(name)) throw bad(`table ${key}: ${what} names ${JSON.stringify(name)}, the version column pg2ch writes in updated mode (not a PostgreSQL column); remove it from ${what}`);
  }
  return name;
}

/**
 * The seed's layout for event tables (ordered by time then id) when the table
 * has a NOT NULL created_at; otherwise ordered by the row's identity.
 */
function defaultOrderBy(mode: string, identity: string[], columns: PgColumn[], cursor: string, exclude: Set<string>): string[] {
  if (mode === 'updated' || identity.length > 1) return identity;
  const created = columns.find((c) => c.name === 'created_at' && c.notNull && isTimestampType(c.typname) && !exclude.has(c.name));
  if (created && created.name !== cursor) return [created.name, cursor];
  return identity;
}

/** Monthly partitions by the first ORDER BY column when it is a date or time (append mode only: an updated row must stay in its partition). */
function defaultPartition(mode: string, orderBy: string[], columns: ColumnPlan[]): { partitionBy?: string } {
  if (mode === 'updated') return {};
  const first = columns.find((c) => c.name === orderBy[0]);
  if (first && /^(DateTime|Date)/.test(first.chType)) return { partitionBy: `toYYYYMM(${chIdent(first.name)})` };
  return {};
}

import type { ClickHouseCapabilities } from './clickhouse-version';
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
}

export interface PlanTarget {
  caps: ClickHouseCapabilities;
  database: string;
  /** CLICKHOUSE_CLUSTER; a table's `cluster` setting wins. */
  cluster?: string;
}

const bad = (msg: string) => new UserError(msg, 'BadConfig');

/** The default cursor: the single-column integer primary key, else an integer `id`. */
export function chooseCursor(schema: SourceSchema, key: string): string {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const pk = schema.primaryKey.length === 1 ? byName.get(schema.primaryKey[0]!) : undefined;
  if (pk && isIntegerType(pk.typname)) return pk.name;
  const id = byName.get('id');
  if (id && isIntegerType(id.typname)) return id.name;
  throw new UserError(
    `table ${key} has no integer cursor column: pg2ch needs a single-column integer primary key or an integer column named "id", ` +
      `or a cursor named in the config file (tables: {${JSON.stringify(key)}: {cursor: <integer or timestamp column>}})`,
    'MissingCursor',
  );
}

function tiebreakFor(schema: SourceSchema, key: string, settings: TableSettings, byName: Map<string, PgColumn>): PgColumn {
  const name = settings.tiebreak ?? (schema.primaryKey.length === 1 ? schema.primaryKey[0] : byName.has('id') ? 'id' : undefined);
  const col = name === undefined ? undefined : byName.get(name);
  if (!col) {
    throw bad(
      name === undefined
        ? `table ${key}: a timestamp cursor needs a unique column to order rows that share a time; the table has no single-column primary key or "id", so set tiebreak in the config file`
        : `table ${key}: tiebreak column ${JSON.stringify(name)} does not exist`,
    );
  }
  if (!col.notNull) throw bad(`table ${key}: tiebreak column ${JSON.stringify(col.name)} is nullable; choose a NOT NULL unique column`);
  return col;
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
  } else cursorName = chooseCursor(schema, key);
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
    const tb = tiebreakFor(schema, key, settings, byName);
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

  const orderBy = settings.orderBy ?? defaultOrderBy(mode, identity, schema.columns, cursorName, exclude);
  const engine = settings.engine ?? 'ReplacingMergeTree';
  const cluster = settings.cluster ?? target.cluster;
  const replacing = engine.includes('Replacing');
  const version = mode === 'updated' ? cursorName : undefined;
  if (mode === 'updated' && !replacing) throw bad(`table ${key}: mode updated needs engine ReplacingMergeTree (or ReplicatedReplacingMergeTree) so an updated row replaces its old version; got ${engine}`);
  if (replacing) {
    const missing = identity.filter((c) => !orderBy.includes(c));
    if (missing.length > 0) {
      throw bad(`table ${key}: orderBy must include ${missing.map((c) => JSON.stringify(c)).join(' and ')}: ReplacingMergeTree keeps one row per ORDER BY key, so rows would be lost`);
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
      columns.push({ name: col.name, pgType: col.type, chType: 'UInt8', select: `coalesce(${pgIdent(col.name)}, false)::int`, pullSafe: false });
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
    ...(version ? { version } : {}),
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

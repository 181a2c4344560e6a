import type { Pool, PoolClient } from 'pg';
import { MAX_CHUNK_ROWS } from '../core/config';
import { UserError } from '../core/errors';
import { pgIdent, pgString } from '../core/quote';
import { afterIdFor, subtractRanges, type CursorRange } from '../core/ranges';
import { pgTableRef, tableKey, type SourceTable } from '../core/table-name';
import { isIntegerType, type PgColumn } from '../core/type-map';
import type { ChunkRange } from '../core/types';

export interface SourceSchema {
  columns: PgColumn[];
  primaryKey: string[];
}

export async function introspect(pg: Pool, table: SourceTable): Promise<SourceSchema> {
  const ref = pgTableRef(table);
  const found = await pg.query<{ oid: string | null }>(`SELECT to_regclass(${pgString(ref)})::oid::text AS oid`);
  const oid = found.rows[0]?.oid;
  if (!oid) {
    throw new UserError(
      `table ${tableKey(table)} does not exist in PostgreSQL (looked for ${ref}); check the name and the database in PG_URL`,
      'MissingTable',
    );
  }
  const cols = await pg.query<{ name: string; type: string; typname: string; typtype: string; notnull: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            t.typname, t.typtype::text AS typtype, a.attnotnull AS notnull
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  const pk = await pg.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisprimary
      ORDER BY k.ord`,
    [oid],
  );
  return {
    columns: cols.rows.map((r) => ({ name: r.name, type: r.type, typname: r.typname, typtype: r.typtype, notNull: r.notnull })),
    primaryKey: pk.rows.map((r) => r.name),
  };
}

/** The column chunks are cut by: the single-column integer primary key, else an integer `id`. */
export function chooseCursor(schema: SourceSchema, key: string): string {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const pk = schema.primaryKey.length === 1 ? byName.get(schema.primaryKey[0]!) : undefined;
  if (pk && isIntegerType(pk.typname)) return pk.name;
  const id = byName.get('id');
  if (id && isIntegerType(id.typname)) return id.name;
  throw new UserError(
    `table ${key} has no integer cursor column: pg2ch needs a single-column integer primary key or an integer column named "id"`,
    'MissingCursor',
  );
}

/** The cursor range (afterId, toId] as a PostgreSQL predicate; no lower bound for a table's first chunk. */
export function rangeWhere(cursor: string, afterId: string | null, toId?: string): string {
  const c = pgIdent(cursor);
  const parts = [afterId === null ? `${c} IS NOT NULL` : `${c} > ${pgString(afterId)}`];
  if (toId !== undefined) parts.push(`${c} <= ${pgString(toId)}`);
  return parts.join(' AND ');
}

/** The next chunk after the watermark: at most `limit` rows, none past `upTo`, found through the cursor's index. */
export async function nextChunk(
  pg: Pool,
  table: SourceTable,
  cursor: string,
  afterId: string | null,
  limit: number,
  upTo?: string,
): Promise<ChunkRange | null> {
  // Workflow input can come from any Temporal client: checked, and sent as a parameter.
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CHUNK_ROWS) {
    throw new UserError(`chunk size must be a whole number from 1 to ${MAX_CHUNK_ROWS}, got ${JSON.stringify(limit)}`, 'BadInput');
  }
  const c = pgIdent(cursor);
  const r = await pg.query<{ rows: string; to_id: string | null }>(
    `SELECT count(*)::text AS rows, max(${c})::text AS to_id
       FROM (SELECT ${c} FROM ${pgTableRef(table)} WHERE ${rangeWhere(cursor, afterId, upTo)} ORDER BY ${c} LIMIT $1) s`,
    [limit],
  );
  const row = r.rows[0];
  if (!row || row.to_id === null) return null;
  return { afterId, toId: row.to_id, rows: Number(row.rows) };
}

export function countRangeSql(table: SourceTable, cursor: string, range: ChunkRange): string {
  return `SELECT count(*)::text AS n FROM ${pgTableRef(table)} WHERE ${rangeWhere(cursor, range.afterId, range.toId)}`;
}

export function selectRangeSql(table: SourceTable, cursor: string, selectList: string[], range: ChunkRange): string {
  return `SELECT ${selectList.join(', ')} FROM ${pgTableRef(table)} WHERE ${rangeWhere(cursor, range.afterId, range.toId)}`;
}

/**
 * A pooled connection for fn, released afterwards; destroyed if fn failed,
 * since a connection that failed mid-COPY is not reusable. While it is
 * checked out between statements, a server going away makes node-postgres
 * emit 'error' on it, which with no listener would crash the worker: the
 * listener keeps the error, and the next statement on it fails instead.
 */
export async function withClient<T>(pg: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pg.connect();
  let broken: Error | undefined;
  const onError = (e: Error) => (broken ??= e);
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Runs fn in a read-only REPEATABLE READ transaction so a count and a COPY see one snapshot. */
export async function inSnapshot<T>(pg: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pg, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  });
}

/** Rows counted exactly up to this many; past it an estimate is enough for a progress figure. */
const EXACT_COUNT_LIMIT = 200_000;

/**
 * Rows in (afterId, toId]: exact through the cursor's index when there are
 * few; past that, the density of the first EXACT_COUNT_LIMIT ids extended
 * over the rest of the span, so a progress figure never costs a full scan.
 */
export async function estimateRows(pg: Pool, table: SourceTable, cursor: string, afterId: string | null, toId?: string): Promise<number> {
  const c = pgIdent(cursor);
  const ref = pgTableRef(table);
  const head = await pg.query<{ n: string; lo: string | null; last: string | null; hi: string | null }>(
    `SELECT count(*)::text AS n, min(${c})::text AS lo, max(${c})::text AS last,
            (SELECT max(${c})::text FROM ${ref} WHERE ${rangeWhere(cursor, afterId, toId)}) AS hi
       FROM (SELECT ${c} FROM ${ref} WHERE ${rangeWhere(cursor, afterId, toId)} ORDER BY ${c} LIMIT ${EXACT_COUNT_LIMIT + 1}) s`,
  );
  const r = head.rows[0]!;
  const n = Number(r.n);
  if (n <= EXACT_COUNT_LIMIT || r.lo === null || r.last === null || r.hi === null) return n;
  const from = afterId === null ? BigInt(r.lo) - 1n : BigInt(afterId);
  const sampled = Number(BigInt(r.last) - from);
  return Math.round((n * Number(BigInt(r.hi) - from)) / Math.max(1, sampled));
}

/**
 * What a sync still has to copy: (watermark, end of the table] minus the
 * ranges backfills copied, with its estimated row count.
 */
export async function pendingAfter(
  pg: Pool,
  table: SourceTable,
  cursor: string,
  watermark: string | null,
  covered: CursorRange[],
): Promise<{ ranges: CursorRange[]; rows: number }> {
  const ranges = subtractRanges({ afterId: watermark, toId: INT8_MAX }, covered);
  let rows = 0;
  for (const r of ranges) rows += await estimateRows(pg, table, cursor, r.afterId, r.toId);
  return { ranges, rows };
}

const INT8_MAX = '9223372036854775807';

export interface CursorStats {
  /** Smallest and largest cursor values; null for an empty table. */
  firstId: string | null;
  lastId: string | null;
  /** Equi-depth histogram bounds of the cursor column, if ANALYZE has run. */
  bounds: string[];
}

/** What a backfill splits its range by: the cursor's span and its histogram in pg_stats. */
export async function cursorStats(pg: Pool, table: SourceTable, cursor: string): Promise<CursorStats> {
  const c = pgIdent(cursor);
  const ref = pgTableRef(table);
  const span = await pg.query<{ lo: string | null; hi: string | null }>(
    `SELECT (SELECT min(${c})::text FROM ${ref}) AS lo, (SELECT max(${c})::text FROM ${ref}) AS hi`,
  );
  const hist = await pg.query<{ bounds: string[] | null }>(
    `SELECT histogram_bounds::text::text[] AS bounds FROM pg_stats
      WHERE schemaname = $1 AND tablename = $2 AND attname = $3`,
    [table.schema, table.name, cursor],
  );
  return {
    firstId: span.rows[0]?.lo ?? null,
    lastId: span.rows[0]?.hi ?? null,
    bounds: hist.rows[0]?.bounds ?? [],
  };
}

/**
 * The cursor range holding the rows whose `timeColumn` is in [since, until):
 * (smallest id - 1, largest id]. Rows inside that id range but outside the
 * window are copied too; with ids that grow with time there are none.
 */
export async function cursorRangeForTimes(
  pg: Pool,
  table: SourceTable,
  cursor: string,
  timeColumn: string,
  since: string | undefined,
  until: string | undefined,
): Promise<{ afterId: string | null; toId: string } | null> {
  const c = pgIdent(cursor);
  const t = pgIdent(timeColumn);
  const params: string[] = [];
  const conditions: string[] = [];
  // Parameters cast to timestamptz: a timestamp column is compared in the session's time zone, UTC.
  if (since) conditions.push(`${t} >= $${params.push(since)}::timestamptz`);
  if (until) conditions.push(`${t} < $${params.push(until)}::timestamptz`);
  const r = await pg.query<{ lo: string | null; hi: string | null }>(
    `SELECT min(${c})::text AS lo, max(${c})::text AS hi FROM ${pgTableRef(table)} WHERE ${conditions.join(' AND ') || 'true'}`,
    params,
  );
  const row = r.rows[0];
  if (!row || row.lo === null || row.hi === null) return null;
  return { afterId: afterIdFor(row.lo), toId: row.hi };
}

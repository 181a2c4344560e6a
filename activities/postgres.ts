import type { Pool, PoolClient } from 'pg';
import { MAX_CHUNK_ROWS } from '../core/config';
import { UserError } from '../core/errors';
import { pgIdent, pgString } from '../core/quote';
import { afterIdFor, subtractRanges, type CursorRange } from '../core/ranges';
import { pgTableRef, tableKey, type SourceTable } from '../core/table-name';
import { keysetWhere, microsOf, encodePosition } from '../core/keyset';
import type { SourceSchema } from '../core/table-plan';
import type { PgColumn } from '../core/type-map';
import type { ChunkRange, ColumnPlan, TablePlan } from '../core/types';

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
  // Domains are read as their base type; arrays carry their element type.
  const cols = await pg.query<{
    name: string; type: string; typname: string; typtype: string; notnull: boolean;
    base_type: string | null; elem_typname: string | null; elem_typtype: string | null;
  }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            bt.typname, bt.typtype::text AS typtype, a.attnotnull AS notnull,
            CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
            et.typname AS elem_typname, et.typtype::text AS elem_typtype
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
       LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  const pk = await pg.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisprimary AND k.ord <= i.indnkeyatts
      ORDER BY k.ord`,
    [oid],
  );
  return {
    ...(await keysAndIndexes(pg, oid)),
    columns: cols.rows.map((r): PgColumn => ({
      name: r.name,
      type: r.type,
      typname: r.typname,
      typtype: r.typtype,
      notNull: r.notnull,
      ...(r.base_type ? { baseType: r.base_type } : {}),
      ...(r.elem_typname ? { elemTypname: r.elem_typname, elemTyptype: r.elem_typtype ?? 'b' } : {}),
    })),
    primaryKey: pk.rows.map((r) => r.name),
  };
}

/**
 * What identifies a row and what an index can range over. A unique index is
 * a row key only when it holds at every moment for every row: valid (built),
 * not partial, checked immediately (not DEFERRABLE), over plain NOT NULL
 * columns (NULLs never collide). INCLUDE columns are not part of a key.
 * Columns leading an index: the table's own indexes (a partitioned table's
 * are partitioned indexes), or, by name, an index on every partition.
 */
async function keysAndIndexes(pg: Pool, oid: string): Promise<Pick<SourceSchema, 'uniqueKeys' | 'indexed' | 'partitionKey'>> {
  const unique = await pg.query<{ cols: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols
       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
       LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisunique AND NOT i.indisprimary AND i.indisvalid AND i.indimmediate
        AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
      GROUP BY i.indexrelid
     HAVING bool_and(coalesce(a.attnotnull, false))
      ORDER BY i.indexrelid`,
    [oid],
  );
  const indexed = await pg.query<{ name: string }>(
    `WITH RECURSIVE tree AS (
       SELECT $1::oid AS oid UNION ALL SELECT inh.inhrelid FROM pg_inherits inh JOIN tree ON inh.inhparent = tree.oid),
     leaves AS (SELECT t.oid FROM tree t JOIN pg_class c ON c.oid = t.oid WHERE t.oid <> $1::oid AND c.relkind <> 'p')
     SELECT a.attname AS name
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = $1::oid AND i.indisvalid AND i.indpred IS NULL
     UNION
     SELECT a.attname
       FROM leaves l JOIN pg_index i ON i.indrelid = l.oid AND i.indisvalid AND i.indpred IS NULL
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      GROUP BY a.attname HAVING count(DISTINCT l.oid) = (SELECT count(*) FROM leaves)`,
    [oid],
  );
  // A key holding an expression has attnum 0 there: not usable as columns.
  const part = await pg.query<{ cols: string[] | null }>(
    `SELECT CASE WHEN bool_and(a.attname IS NOT NULL) THEN array_agg(a.attname::text ORDER BY k.ord) END AS cols
       FROM pg_partitioned_table p CROSS JOIN LATERAL unnest(p.partattrs) WITH ORDINALITY k(attnum, ord)
       LEFT JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum
      WHERE p.partrelid = $1::oid`,
    [oid],
  );
  return { uniqueKeys: unique.rows.map((r) => r.cols), indexed: indexed.rows.map((r) => r.name), partitionKey: part.rows[0]?.cols ?? [] };
}

/** The cursor range (afterId, toId] as a PostgreSQL predicate; no lower bound for a table's first chunk. */
export function rangeWhere(cursor: string, afterId: string | null, toId?: string): string {
  const c = pgIdent(cursor);
  // Bounds are int8: an int2 or int4 cursor compares with them as they are (the int4 literal '9223372036854775807' would fail).
  const parts = [afterId === null ? `${c} IS NOT NULL` : `${c} > ${pgString(afterId)}::int8`];
  if (toId !== undefined) parts.push(`${c} <= ${pgString(toId)}::int8`);
  return parts.join(' AND ');
}

// Workflow input can come from any Temporal client: checked, and sent as a parameter.
function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CHUNK_ROWS) {
    throw new UserError(`chunk size must be a whole number from 1 to ${MAX_CHUNK_ROWS}, got ${JSON.stringify(limit)}`, 'BadInput');
  }
}

/** The next chunk after the watermark: at most `limit` rows, none past `upTo`, found through the cursor's index. */
export async function nextChunk(...args: Parameters<typeof chunkAfter>): Promise<ChunkRange | null> {
  return (await chunkAfter(...args))?.range ?? null;
}

/**
 * The next chunk, and whether it is the last one up to `upTo`. Ranges are
 * cut by cursor values, so rows sharing a value are never split between
 * chunks nor skipped. Where several rows may share one (`shared`: a cursor
 * that is not the row's key alone), the chunk ends before the value that
 * runs past `limit` rows, so it holds at most `limit` rows; only a single
 * value with more rows than that makes a chunk of its own, up to
 * MAX_CHUNK_ROWS (a chunk stays one atomic insert).
 */
export async function chunkAfter(
  pg: Pool,
  table: SourceTable,
  cursor: string,
  afterId: string | null,
  limit: number,
  upTo?: string,
  shared = false,
): Promise<{ range: ChunkRange; last: boolean } | null> {
  checkLimit(limit);
  const c = pgIdent(cursor);
  const ref = pgTableRef(table);
  const head = `SELECT ${c} AS v FROM ${ref} WHERE ${rangeWhere(cursor, afterId, upTo)} ORDER BY ${c} LIMIT $1`;
  if (!shared) {
    const r = await pg.query<{ n: string; top: string | null }>(`SELECT count(*)::text AS n, max(v)::text AS top FROM (${head}) s`, [limit]);
    const row = r.rows[0];
    if (!row || row.top === null) return null;
    return { range: { afterId, toId: row.top, rows: Number(row.n) }, last: Number(row.n) < limit };
  }
  // One row past the limit shows whether the largest value goes on past it;
  // below_to is the last value whose rows all came before the largest's.
  const r = await pg.query<{ n: string; top: string | null; below_n: string | null; below_to: string | null }>(
    `SELECT count(*)::text AS n, max(v)::text AS top, max(rn) FILTER (WHERE nxt <> v)::text AS below_n, max(v) FILTER (WHERE nxt <> v)::text AS below_to
       FROM (SELECT v, lead(v) OVER w AS nxt, row_number() OVER w AS rn FROM (${head}) s WINDOW w AS (ORDER BY v)) x`,
    [limit + 1],
  );
  const row = r.rows[0];
  if (!row || row.top === null) return null;
  if (Number(row.n) <= limit) return { range: { afterId, toId: row.top, rows: Number(row.n) }, last: true };
  if (row.below_to !== null) return { range: { afterId, toId: row.below_to, rows: Number(row.below_n) }, last: false };
  // Every row read shares one value: that value alone is the chunk.
  const one = await pg.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM (SELECT 1 FROM ${ref} WHERE ${c} = ${pgString(row.top)}::int8 LIMIT ${MAX_CHUNK_ROWS + 1}) s`,
  );
  const n = Number(one.rows[0]!.n);
  if (n > MAX_CHUNK_ROWS) {
    throw new UserError(
      `table ${tableKey(table)}: more than ${MAX_CHUNK_ROWS} rows share the cursor value ${row.top} of ${JSON.stringify(cursor)}, more than one chunk (one atomic insert) holds; ` +
        `choose a cursor with fewer rows per value in the config file (the primary key, or a column of it)`,
      'CursorValueTooCommon',
    );
  }
  return { range: { afterId, toId: row.top, rows: n }, last: false };
}

/** A chunk's rows as a PostgreSQL predicate, for either kind of cursor. */
export function planWhere(plan: Pick<TablePlan, 'cursor' | 'keyset'>, afterId: string | null, toId?: string): string {
  return plan.keyset ? keysetWhere(plan.keyset, afterId, toId) : rangeWhere(plan.cursor, afterId, toId);
}

/** The next chunk of a timestamp cursor: at most `limit` rows in (time, tiebreak) order; ends at its last row. */
export async function nextKeysetChunk(pg: Pool, plan: TablePlan, afterId: string | null, limit: number, upTo?: string): Promise<ChunkRange | null> {
  checkLimit(limit);
  const ks = plan.keyset!;
  const t = pgIdent(ks.time);
  const k = pgIdent(ks.tiebreak);
  // Output names differ from the ordered columns: ORDER BY would otherwise sort the text.
  const r = await pg.query<{ n_rows: string; last_us: string; last_key: string }>(
    `SELECT n::text AS n_rows, ${microsOf('t')} AS last_us, k::text AS last_key
       FROM (SELECT t, k, count(*) OVER () AS n
               FROM (SELECT ${t} AS t, ${k} AS k FROM ${pgTableRef(plan.source)} WHERE ${keysetWhere(ks, afterId, upTo)} ORDER BY ${t}, ${k} LIMIT $1) a) b
      ORDER BY b.t DESC, b.k DESC LIMIT 1`,
    [limit],
  );
  const row = r.rows[0];
  if (!row) return null;
  return { afterId, toId: encodePosition({ micros: row.last_us, key: row.last_key }), rows: Number(row.n_rows) };
}

export function countRangeSql(plan: TablePlan, range: ChunkRange): string {
  return `SELECT count(*)::text AS n FROM ${pgTableRef(plan.source)} WHERE ${planWhere(plan, range.afterId, range.toId)}`;
}

export function selectRangeSql(plan: TablePlan, selectList: string[], range: ChunkRange): string {
  return `SELECT ${selectList.join(', ')} FROM ${pgTableRef(plan.source)} WHERE ${planWhere(plan, range.afterId, range.toId)}`;
}

/** A range's cursor values as text, in the cursor's (numeric) order, for copyMissing to look up in ClickHouse. */
export async function idsInRange(db: Pool | PoolClient, plan: TablePlan, range: ChunkRange): Promise<string[]> {
  const c = pgIdent(plan.cursor);
  // Qualified, so ORDER BY names the column: a bare name equal to the output
  // alias would sort the text ('10000' before '9').
  const r = await db.query<{ id: string }>(`${selectRangeSql(plan, [`${c}::text AS id`], range)} ORDER BY ${pgTableRef(plan.source)}.${c}`);
  return r.rows.map((row) => row.id);
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

/** fn on this connection (inside its transaction), or on one of the pool's. */
export function onConnection<T>(db: Pool | PoolClient, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return 'release' in db ? fn(db) : withClient(db, fn);
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

/** The table's columns, types and nullability as one string: a chunk compares it with its plan's. */
export async function sourceSignature(pg: Pool | PoolClient, table: SourceTable): Promise<string> {
  const r = await pg.query<{ sig: string | null }>(
    `SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum) AS sig
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [pgTableRef(table)],
  );
  return r.rows[0]?.sig ?? '';
}

/**
 * The value rows older than a column hold, rendered as the copy renders it,
 * when PostgreSQL added the column with a constant default (its "missing
 * value"); undefined otherwise.
 */
export async function missingDefault(pg: Pool, plan: TablePlan, col: ColumnPlan): Promise<string | undefined> {
  if (col.pgType.startsWith('(') || col.pgType.endsWith(']')) return undefined;
  try {
    const r = await pg.query<{ v: string | null }>(
      `SELECT (${col.select})::text AS v
         FROM (SELECT (a.attmissingval::text::${col.pgType}[])[1] AS ${pgIdent(col.name)}
                 FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.atthasmissing) s`,
      [pgTableRef(plan.source), col.name],
    );
    return r.rows[0]?.v ?? undefined;
  } catch {
    // A default ClickHouse cannot hold: older rows keep the column's own default.
    return undefined;
  }
}

/** Rows a keyset sync still has to copy: exact when few, else the table's estimate. */
export async function keysetPending(pg: Pool, plan: Pick<TablePlan, 'source' | 'cursor' | 'keyset'>, afterPos: string | null): Promise<number> {
  const ref = pgTableRef(plan.source);
  const r = await pg.query<{ n: string; est: string }>(
    `SELECT (SELECT count(*) FROM (SELECT 1 FROM ${ref} WHERE ${planWhere(plan, afterPos)} LIMIT ${EXACT_COUNT_LIMIT + 1}) s)::text AS n,
            (SELECT greatest(reltuples, 0)::int8 FROM pg_class WHERE oid = to_regclass($1))::text AS est`,
    [ref],
  );
  const n = Number(r.rows[0]!.n);
  return n <= EXACT_COUNT_LIMIT ? n : Math.max(n, Number(r.rows[0]!.est));
}

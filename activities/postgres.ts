import type { Pool, PoolClient } from 'pg';
import { MAX_CHUNK_ROWS } from '../core/config';
import { UserError } from '../core/errors';
import { pgIdent, pgString } from '../core/quote';
import { pgTableRef, tableKey, type SourceTable } from '../core/table-name';
import type { PgColumn } from '../core/type-map';
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

/** The cursor range (afterId, toId] as a PostgreSQL predicate; no lower bound for a table's first chunk. */
export function rangeWhere(cursor: string, afterId: string | null, toId?: string): string {
  const c = pgIdent(cursor);
  const parts = [afterId === null ? `${c} IS NOT NULL` : `${c} > ${pgString(afterId)}`];
  if (toId !== undefined) parts.push(`${c} <= ${pgString(toId)}`);
  return parts.join(' AND ');
}

/** The next chunk after the watermark: at most `limit` rows, found through the cursor's index. */
export async function nextChunk(
  pg: Pool,
  table: SourceTable,
  cursor: string,
  afterId: string | null,
  limit: number,
): Promise<ChunkRange | null> {
  // Workflow input can come from any Temporal client: checked, and sent as a parameter.
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CHUNK_ROWS) {
    throw new UserError(`chunk size must be a whole number from 1 to ${MAX_CHUNK_ROWS}, got ${JSON.stringify(limit)}`, 'BadInput');
  }
  const c = pgIdent(cursor);
  const r = await pg.query<{ rows: string; to_id: string | null }>(
    `SELECT count(*)::text AS rows, max(${c})::text AS to_id
       FROM (SELECT ${c} FROM ${pgTableRef(table)} WHERE ${rangeWhere(cursor, afterId)} ORDER BY ${c} LIMIT $1) s`,
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

/** Runs fn in a read-only REPEATABLE READ transaction so a count and a COPY see one snapshot. */
export async function inSnapshot<T>(pg: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pg.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    // A connection that failed mid-COPY is not reusable: destroy it.
    client.release(broken);
  }
}

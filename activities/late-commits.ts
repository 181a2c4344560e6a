// Late commits. Sequences hand out ids when a row is inserted, not when its
// transaction commits, so a transaction can take id N, stay open while rows
// with higher ids commit and are synced, and commit after the watermark has
// passed N: a plain `id > last_max_id` never sees that row. pg2ch notes every
// chunk copied while other transactions were open (their ids are between the
// snapshot's xmin and xmax) in sync_recheck. Once all of them have ended,
// the chunk's range is searched for rows written by those transactions
// (their xmin system column is at or after the snapshot's xmin) that are not
// in ClickHouse, and those rows are copied. Chunks copied with no other
// transaction open need no second look, so a quiet database pays nothing.
import type { Pool, PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { appendAll } from '../core/arrays';
import { copySelectList } from '../core/copy-version';
import { SYNC_RECHECK } from '../core/ddl';
import { chIdent, chQualified, chString, intLiteral, pgIdent, pgString } from '../core/quote';
import { pgTableRef } from '../core/table-name';
import type { ChunkRange, TablePlan } from '../core/types';
import { deleteRows, insertSettings, insertTsv, queryRows } from './clickhouse';
import type { ClickHouseTarget } from './deps';
import { onConnection, rangeWhere } from './postgres';

/** Transaction ids (64-bit, epoch included) bounding the transactions open when a snapshot was taken. */
export interface Horizon {
  xmin: string;
  xmax: string;
}

const HORIZON_SQL = `SELECT txid_snapshot_xmin(txid_current_snapshot())::text AS xmin, txid_snapshot_xmax(txid_current_snapshot())::text AS xmax`;

export async function snapshotHorizon(client: PoolClient | Pool): Promise<Horizon> {
  const r = await client.query<Horizon>(HORIZON_SQL);
  return r.rows[0]!;
}

/**
 * Called after a chunk's copy with the horizon of the snapshot it was read
 * in. Records a recheck only when other transactions were open then; it is
 * ready once every transaction id below that snapshot's xmax has ended.
 */
export async function noteChunk(ch: ClickHouseTarget, key: string, range: ChunkRange, atRead: Horizon): Promise<boolean> {
  if (atRead.xmin === atRead.xmax) return false;
  await writeRecheck(ch, key, { afterId: range.afterId, toId: range.toId, snapshotXmin: atRead.xmin, readyAt: atRead.xmax }, null);
  return true;
}

interface Pending {
  afterId: string | null;
  toId: string;
  snapshotXmin: string;
  readyAt: string;
}

/** A row of sync_recheck: a chunk to look at again (`found` null), or the look done and the rows it found. */
async function writeRecheck(ch: ClickHouseTarget, key: string, p: Pending, found: number | null): Promise<void> {
  await ch.client.command({
    query: `INSERT INTO ${chQualified(ch.database, SYNC_RECHECK)} (table_name, after_id, to_id, snapshot_xmin, ready_at_xmin, done, rows_found, created_at)
      VALUES (${chString(key)}, ${p.afterId === null ? 'NULL' : intLiteral(p.afterId)}, ${intLiteral(p.toId)}, ${intLiteral(p.snapshotXmin)}, ${intLiteral(p.readyAt)}, ${found === null ? 0 : 1}, ${found ?? 0}, now())`,
    clickhouse_settings: insertSettings(ch),
  });
}

/** How many chunks of the table wait for a recheck; none means the recheck activity is not needed. */
export async function pendingRechecks(ch: ClickHouseTarget, key: string): Promise<number> {
  return (await pending(ch, key)).length;
}

async function pending(ch: ClickHouseTarget, key: string): Promise<Pending[]> {
  const rows = await queryRows<{ a: string | null; t: string; x: string; r: string }>(
    ch,
    `SELECT toString(after_id) AS a, toString(to_id) AS t, toString(snapshot_xmin) AS x, toString(ready_at_xmin) AS r
       FROM ${chQualified(ch.database, SYNC_RECHECK)} WHERE table_name = ${chString(key)}
      GROUP BY after_id, to_id, snapshot_xmin, ready_at_xmin HAVING max(done) = 0
      ORDER BY to_id`,
  );
  return rows.map((r) => ({ afterId: r.a, toId: r.t, snapshotXmin: r.x, readyAt: r.r }));
}

/**
 * Rows of the range written by a transaction at or after `snapshotXmin`. A
 * row's xmin is the 32-bit transaction id: compared modulo 2^32 (valid for
 * transactions younger than two billion), frozen and bootstrap ids excluded.
 */
function lateCandidatesSql(plan: TablePlan, p: Pending): string {
  const target = (BigInt(p.snapshotXmin) % 2n ** 32n).toString();
  const c = pgIdent(plan.cursor);
  return `SELECT ${c}::text AS id FROM ${pgTableRef(plan.source)}
    WHERE ${rangeWhere(plan.cursor, p.afterId, p.toId)} AND xmin::text::bigint >= 3
      AND (xmin::text::bigint - ${target} + 4294967296) % 4294967296 < 2147483648`;
}

const ID_BATCH = 10_000;

/**
 * Checks every noted chunk whose open transactions have all ended, copies
 * the rows they committed late, and closes the check. Returns rows copied.
 */
export async function recheckLateRows(pg: Pool, ch: ClickHouseTarget, plan: TablePlan, heartbeat: () => void): Promise<{ checked: number; copied: number }> {
  const now = await snapshotHorizon(pg);
  let checked = 0;
  let copied = 0;
  for (const p of await pending(ch, plan.key)) {
    if (BigInt(now.xmin) < BigInt(p.readyAt)) continue; // a transaction of that time is still open
    heartbeat();
    const ids = (await pg.query<{ id: string }>(lateCandidatesSql(plan, p))).rows.map((r) => r.id);
    const found = await copyMissing(pg, ch, plan, ids, heartbeat);
    await writeRecheck(ch, plan.key, p, found);
    checked++;
    copied += found;
  }
  return { checked, copied };
}

/**
 * Of these PostgreSQL ids, copies the ones ClickHouse does not have, through
 * the same COPY serialization and insert as a chunk. Returns how many.
 */
export async function copyMissing(db: Pool | PoolClient, ch: ClickHouseTarget, plan: TablePlan, ids: string[], heartbeat: () => void): Promise<number> {
  if (plan.cursorShared) return copyShortValues(db, ch, plan, ids, heartbeat);
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += ID_BATCH) {
    const batch = ids.slice(i, i + ID_BATCH);
    const present = new Set(
      (
        // The alias must not be the column's name: old servers would apply WHERE to the alias.
        await queryRows<{ present: string }>(
          ch,
          `SELECT DISTINCT toString(${chIdent(plan.cursor)}) AS present FROM ${chQualified(plan.destination.database, plan.destination.table)}
            WHERE ${chIdent(plan.cursor)} IN (${batch.map(intLiteral).join(', ')})`,
        )
      ).map((r) => r.present),
    );
    appendAll(missing, batch.filter((id) => !present.has(id)));
  }
  await copyRows(db, ch, plan, missing, heartbeat);
  return missing.length;
}

/**
 * copyMissing for a cursor several rows may share: a value present in
 * ClickHouse may still lack rows (one committed late beside rows copied
 * before), so each value's rows are counted on both sides. ClickHouse counts
 * distinct row keys where a ReplacingMergeTree holds them (copies not yet
 * merged are one row), else rows. A value short of rows is copied whole,
 * after deleting the rows of it ClickHouse has. Returns rows missing.
 */
async function copyShortValues(db: Pool | PoolClient, ch: ClickHouseTarget, plan: TablePlan, ids: string[], heartbeat: () => void): Promise<number> {
  const values = [...new Set(ids)];
  const c = pgIdent(plan.cursor);
  const chCount = plan.rowKey ? `uniqExact(${plan.rowKey.map(chIdent).join(', ')})` : 'count()';
  let missingRows = 0;
  for (let i = 0; i < values.length; i += ID_BATCH) {
    const batch = values.slice(i, i + ID_BATCH);
    const source = await onConnection(db, (client) =>
      client.query<{ v: string; n: string }>(
        `SELECT ${c}::text AS v, count(*)::text AS n FROM ${pgTableRef(plan.source)} WHERE ${c} IN (${batch.map((id) => `${pgString(id)}::int8`).join(', ')}) GROUP BY ${c}`,
      ),
    );
    const stored = new Map(
      (
        // Aliases no column has: old servers would apply WHERE to an alias named as the column.
        await queryRows<{ _pg2ch_v: string; _pg2ch_n: string }>(
          ch,
          `SELECT toString(${chIdent(plan.cursor)}) AS _pg2ch_v, toString(${chCount}) AS _pg2ch_n FROM ${chQualified(plan.destination.database, plan.destination.table)}
            WHERE ${chIdent(plan.cursor)} IN (${batch.map(intLiteral).join(', ')}) GROUP BY ${chIdent(plan.cursor)}`,
        )
      ).map((r) => [r._pg2ch_v, Number(r._pg2ch_n)]),
    );
    const short = source.rows.filter((r) => (stored.get(r.v) ?? 0) < Number(r.n));
    const partial = short.filter((r) => stored.has(r.v)).map((r) => r.v);
    if (partial.length > 0) await deleteRows(ch, plan, partial, heartbeat);
    await copyRows(db, ch, plan, short.map((r) => r.v), heartbeat);
    for (const r of short) missingRows += Number(r.n) - (stored.get(r.v) ?? 0);
  }
  return missingRows;
}

/** The named rows, ID_BATCH at a time. */
export async function copyRows(db: Pool | PoolClient, ch: ClickHouseTarget, plan: TablePlan, ids: string[], heartbeat: () => void): Promise<void> {
  for (let i = 0; i < ids.length; i += ID_BATCH) {
    await copyIds(db, ch, plan, ids.slice(i, i + ID_BATCH));
    heartbeat();
  }
}

/** The named rows, through the same COPY serialization and insert as a chunk. */
async function copyIds(db: Pool | PoolClient, ch: ClickHouseTarget, plan: TablePlan, ids: string[]): Promise<void> {
  const c = pgIdent(plan.cursor);
  const select = `SELECT ${copySelectList(plan).join(', ')} FROM ${pgTableRef(plan.source)} WHERE ${c} IN (${ids.map((id) => `${pgString(id)}::int8`).join(', ')})`;
  await onConnection(db, async (client) => {
    const stream = client.query(copyTo(`COPY (${select}) TO STDOUT`));
    // No token of its own: the ids were just found missing, which is what
    // makes a retry safe, and the same ids may rightly be copied again after
    // a cut-short copy of them was deleted (a repeated token would drop them).
    await insertTsv(ch, plan, stream, undefined);
  });
}

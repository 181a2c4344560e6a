import type { Readable } from 'node:stream';
import { createSyncControlSql, createSyncRecheckSql, createTableSql, defaultLayout, SYNC_CONTROL } from '../core/ddl';
import { UserError } from '../core/errors';
import { chIdent, chQualified, chString, intLiteral } from '../core/quote';
import { mergeRanges, type CursorRange } from '../core/ranges';
import type { ChunkRange, TablePlan } from '../core/types';
import { BACKFILL_ID_PREFIX } from '../core/workflow-ids';
import type { ClickHouseTarget } from './deps';

export async function queryRows<T>(ch: ClickHouseTarget, query: string): Promise<T[]> {
  const rs = await ch.client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

export async function command(ch: ClickHouseTarget, query: string): Promise<void> {
  await ch.client.command({ query });
}

export async function tableExists(ch: ClickHouseTarget, database: string, table: string): Promise<boolean> {
  const rows = await queryRows<{ n: string }>(
    ch,
    `SELECT toString(count()) AS n FROM system.tables WHERE database = ${chString(database)} AND name = ${chString(table)}`,
  );
  return rows[0]?.n !== '0';
}

/** Creates sync_control, sync_recheck and the destination table when missing; checks an existing one matches. */
export async function ensureDestination(ch: ClickHouseTarget, plan: TablePlan): Promise<void> {
  await command(ch, createSyncControlSql(ch.database, ch.caps, ch.cluster));
  await command(ch, createSyncRecheckSql(ch.database, ch.cluster));
  const { database, table } = plan.destination;
  const existing = await queryRows<{ name: string; type: string }>(
    ch,
    `SELECT name, type FROM system.columns WHERE database = ${chString(database)} AND table = ${chString(table)}`,
  );
  if (existing.length === 0) {
    const layout = defaultLayout(plan.columns, plan.cursor);
    await command(ch, createTableSql({ database, table, columns: plan.columns, layout, caps: ch.caps, cluster: ch.cluster }));
    return;
  }
  const have = new Map(existing.map((c) => [c.name, c.type]));
  const norm = (t: string) => t.replace(/\s+/g, '');
  for (const col of plan.columns) {
    const type = have.get(col.name);
    if (type === undefined) {
      throw new UserError(
        `ClickHouse table ${database}.${table} has no column ${JSON.stringify(col.name)} (PostgreSQL type ${col.pgType}); ` +
          `add it with ALTER TABLE ... ADD COLUMN ${chIdent(col.name)} ${col.chType}, or drop the table to recreate it`,
        'SchemaMismatch',
      );
    }
    if (norm(type) !== norm(col.chType)) {
      throw new UserError(
        `ClickHouse column ${database}.${table}.${col.name} is ${type} but PostgreSQL ${col.pgType} needs ${col.chType}; ` +
          `change the column type or drop the table to recreate it`,
        'SchemaMismatch',
      );
    }
  }
}

/** workflow_id of the marker row written when a destination's data is found gone. */
export const RESET_MARKER = '(destination emptied: sync restarts)';

/**
 * The last checkpointed cursor value, or null when the table was never synced
 * or its destination was emptied since: only checkpoints written at or after
 * the latest reset marker count.
 */
export async function readWatermark(ch: ClickHouseTarget, key: string): Promise<string | null> {
  const rows = await queryRows<{ n: string; wm: string }>(
    ch,
    `SELECT toString(count()) AS n, toString(max(last_max_id)) AS wm FROM ${chQualified(ch.database, SYNC_CONTROL)}
      WHERE ${sinceReset(ch, key)} AND workflow_id NOT LIKE ${chString(BACKFILL_ID_PREFIX + '%')}`,
  );
  const row = rows[0];
  return row && row.n !== '0' ? row.wm : null;
}

/** This table's sync_control rows that still count: none from before the latest reset marker. */
function sinceReset(ch: ClickHouseTarget, key: string): string {
  const t = chQualified(ch.database, SYNC_CONTROL);
  return `table_name = ${chString(key)} AND workflow_id != ${chString(RESET_MARKER)}
        AND synced_at >= (SELECT max(synced_at) FROM ${t} WHERE table_name = ${chString(key)} AND workflow_id = ${chString(RESET_MARKER)})`;
}

/**
 * Cursor ranges backfills have copied (each checkpointed chunk is one),
 * merged. The incremental sync jumps over them instead of copying them twice.
 */
export async function readCovered(ch: ClickHouseTarget, key: string): Promise<CursorRange[]> {
  const rows = await queryRows<{ a: string | null; t: string }>(
    ch,
    `SELECT toString(after_id) AS a, toString(last_max_id) AS t FROM ${chQualified(ch.database, SYNC_CONTROL)}
      WHERE ${sinceReset(ch, key)} AND workflow_id LIKE ${chString(BACKFILL_ID_PREFIX + '%')}`,
  );
  return mergeRanges(rows.map((r) => ({ afterId: r.a, toId: r.t })));
}

export async function destinationIsEmpty(ch: ClickHouseTarget, plan: TablePlan): Promise<boolean> {
  const rows = await queryRows<{ n: string }>(
    ch,
    `SELECT toString(count()) AS n FROM ${chQualified(plan.destination.database, plan.destination.table)}`,
  );
  return rows[0]?.n === '0';
}

/** Makes earlier checkpoints of this table stop counting; the next checkpoint is a second later. */
export async function writeResetMarker(ch: ClickHouseTarget, key: string): Promise<void> {
  await insertSyncControl(ch, { key, lastMaxId: '0', afterId: null, rows: 0, workflowId: RESET_MARKER });
  // synced_at has whole seconds: the sync's own checkpoints must not share the marker's.
  await new Promise((r) => setTimeout(r, 1100));
}

/** The cursor range (afterId, toId] as a ClickHouse predicate; the cursor column is never Nullable there. */
export function chRangeWhere(cursor: string, range: ChunkRange): string {
  const c = chIdent(cursor);
  const lower = range.afterId === null ? '1' : `${c} > ${intLiteral(range.afterId)}`;
  return `${lower} AND ${c} <= ${intLiteral(range.toId)}`;
}

/**
 * Distinct cursor values of a chunk range already in ClickHouse. Distinct, so
 * a partly inserted chunk repeated twice cannot pass for a complete one.
 */
export async function countRange(ch: ClickHouseTarget, plan: TablePlan, range: ChunkRange): Promise<number> {
  const rows = await queryRows<{ n: string }>(
    ch,
    `SELECT toString(uniqExact(${chIdent(plan.cursor)})) AS n FROM ${chQualified(plan.destination.database, plan.destination.table)} WHERE ${chRangeWhere(plan.cursor, range)}`,
  );
  return Number(rows[0]?.n ?? 0);
}

const PLAIN_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function insertTsv(
  ch: ClickHouseTarget,
  plan: TablePlan,
  values: Readable,
  dedupToken: string | undefined,
  abortSignal?: AbortSignal,
): Promise<void> {
  const settings: Record<string, string> = dedupToken ? { insert_deduplication_token: dedupToken } : {};
  const { database, table } = plan.destination;
  const names = [database, table, ...plan.columns.map((c) => c.name)];
  // The zero-copy insert accepts plain identifiers only; other names take the string path.
  if (ch.rawInsert && names.every((n) => PLAIN_IDENTIFIER.test(n))) {
    // The embedded engine parses one whole Buffer far faster, and in far less
    // memory, than a JavaScript string assembled from the stream; the chunk
    // size bounds the buffer. Bytes, never decoded, so UTF-8 stays intact.
    const parts: Buffer[] = [];
    for await (const part of values) parts.push(part as Buffer);
    const body = Buffer.concat(parts);
    parts.length = 0;
    if (body.length === 0) return;
    await ch.rawInsert({
      table: `${database}.${table}`,
      columns: plan.columns.map((c) => c.name),
      values: body,
      settings,
      signal: abortSignal,
    });
    return;
  }
  await ch.client.insert({
    table: chQualified(database, table),
    columns: plan.columns.map((c) => chIdent(c.name)) as [string, ...string[]],
    format: 'TabSeparated',
    // The embedded connection decodes each Buffer on its own, which would cut
    // a multi-byte character straddling two chunks; strings from a stream
    // with an encoding are cut at character boundaries.
    values: ch.kind === 'embedded' ? values.setEncoding('utf8') : values,
    abort_signal: abortSignal,
    clickhouse_settings: settings,
  });
}

export async function writeCheckpoint(
  ch: ClickHouseTarget,
  plan: TablePlan,
  range: ChunkRange,
  rows: number,
  workflowId: string,
): Promise<void> {
  await insertSyncControl(
    ch,
    { key: plan.key, lastMaxId: range.toId, afterId: range.afterId, rows, workflowId },
    ch.caps.dedupToken ? `checkpoint:${plan.key}:${range.afterId}:${range.toId}` : undefined,
  );
}

/** One row of sync_control, stamped with the server's date and time. */
async function insertSyncControl(
  ch: ClickHouseTarget,
  row: { key: string; lastMaxId: string; afterId: string | null; rows: number; workflowId: string },
  dedupToken?: string,
): Promise<void> {
  const after = row.afterId === null ? 'NULL' : intLiteral(row.afterId);
  await ch.client.command({
    query: `INSERT INTO ${chQualified(ch.database, SYNC_CONTROL)}
      (table_name, sync_date, last_max_id, synced_at, after_id, rows_copied, workflow_id)
      VALUES (${chString(row.key)}, today(), ${intLiteral(row.lastMaxId)}, now(), ${after}, ${row.rows}, ${chString(row.workflowId)})`,
    clickhouse_settings: dedupToken ? { insert_deduplication_token: dedupToken } : {},
  });
}

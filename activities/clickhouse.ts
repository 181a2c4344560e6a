import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseError } from '@clickhouse/client';
import { copyColumnNames, legacyLayout } from '../core/copy-version';
import { addColumnSql, createDatabaseSql, createDistributedSql, createSyncControlSql, createSyncRecheckSql, createTableSql, defaultShardingKey, LOCAL_SUFFIX, SYNC_CONTROL, SYNC_CONTROL_ADDED, SYNC_RECHECK } from '../core/ddl';
import { addColumnsOnCluster, clusterHosts, deleteOnShards, ensureOnCluster, isSharded } from './cluster-ddl';
import { decodePosition } from '../core/keyset';
import { UNNAMED_INTEGER, UNNAMED_TIMESTAMP } from '../core/watermark';
import { EmptyHttpAnswer, UserError } from '../core/errors';
import { chIdent, chQualified, chString, intLiteral } from '../core/quote';
import { mergeRanges, type CursorRange } from '../core/ranges';
import type { ChunkRange, ColumnPlan, TablePlan } from '../core/types';
import { BACKFILL_ID_PREFIX } from '../core/workflow-ids';
import type { ClickHouseTarget } from './deps';

export async function queryRows<T>(ch: ClickHouseTarget, query: string): Promise<T[]> {
  const rs = await ch.client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

/**
 * Settings for a query reading this many columns of a MergeTree table. Each
 * column's stream (two for a Nullable) gets a read buffer of
 * max_read_buffer_size (1 MiB) for every part read: 1,500 columns took 18.16
 * about 2 GB a part, over its 8 GB limit with a few parts. Buffers shrink so
 * their sum stays near 256 MiB a part; compressed blocks still read whole.
 */
export function wideReadSettings(columns: number): { max_read_buffer_size?: string } {
  const perStream = Math.floor(2 ** 28 / (2 * columns));
  return perStream >= 2 ** 20 ? {} : { max_read_buffer_size: String(Math.max(2 ** 16, perStream)) };
}

/**
 * Settings for an insert. Where the server honours tokens every insert names
 * one: the embedded engine keeps settings for the session, so an insert
 * without one would reuse the previous insert's token and be dropped as its
 * duplicate. A fresh token never matches; a given one makes a retry idempotent.
 */
export function insertSettings(ch: ClickHouseTarget, token?: string): Record<string, string> {
  if (!ch.caps.dedupToken) return {};
  return { insert_deduplication_token: token ?? `once:${randomUUID()}` };
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

async function columnsOf(ch: ClickHouseTarget, database: string, table: string): Promise<Map<string, string>> {
  const rows = await queryRows<{ name: string; type: string }>(
    ch,
    `SELECT name, type FROM system.columns WHERE database = ${chString(database)} AND table = ${chString(table)}`,
  );
  return new Map(rows.map((c) => [c.name, c.type]));
}

/** How a sharded destination's Distributed table spreads rows: the table's shardingKey setting or a hash of its key. */
const shardingKeyOf = (plan: TablePlan) => plan.settings?.shardingKey ?? defaultShardingKey(plan.rowKey ?? [plan.cursor]);

/**
 * The database, the control tables and the destination when missing. The
 * control tables follow the destination's cluster (CLICKHOUSE_CLUSTER or the
 * table's cluster setting): on a cluster they are Replicated, so the
 * watermark survives the replica that wrote it. On a cluster the DDL runs
 * only when some host lacks something (see cluster-ddl.ts).
 */
async function ensureTables(ch: ClickHouseTarget, plan: TablePlan, cluster: string | undefined): Promise<void> {
  const { database, table } = plan.destination;
  if (cluster && ch.kind === 'server') {
    const hosts = await clusterHosts(ch, cluster);
    // Several shards: each shard's replicas hold <table>_local, and <table> is the Distributed table over them.
    const sharded = isSharded(hosts);
    const local = sharded ? `${table}${LOCAL_SUFFIX}` : table;
    const shardingKey = shardingKeyOf(plan);
    const ddl = () => [
      createDatabaseSql(ch.database, cluster),
      createSyncControlSql(ch.database, ch.caps, cluster, sharded),
      createSyncRecheckSql(ch.database, cluster, sharded),
      createTableSql({ database, table: local, columns: plan.columns, layout: plan.layout, caps: ch.caps }),
      ...(sharded ? [createDistributedSql(database, table, cluster, shardingKey)] : []),
    ];
    await ensureOnCluster(ch, cluster, { database: ch.database, tables: [SYNC_CONTROL, SYNC_RECHECK, ...(sharded ? [local] : []), table] }, ddl, hosts);
  } else {
    // The embedded engine has no hosts to check: its DDL is sent as before.
    await command(ch, createSyncControlSql(ch.database, ch.caps, cluster));
    await command(ch, createSyncRecheckSql(ch.database, cluster));
    // The destination is created below, after its columns are compared.
  }
  const have = await columnsOf(ch, ch.database, SYNC_CONTROL);
  for (const [name, chType] of SYNC_CONTROL_ADDED) {
    if (!have.has(name)) await command(ch, addColumnSql(ch.database, SYNC_CONTROL, { name, chType }, cluster));
  }
}

const norm = (t: string) => t.replace(/\s+/g, '');

/**
 * Creates the control tables and the destination table when missing. An
 * existing destination follows PostgreSQL: a column added there is added
 * (with the value PostgreSQL gives older rows, when `defaultFor` knows it); a
 * column dropped or retyped there stops the sync, before anything is
 * written, with the fix. Returns the columns it added.
 */
export async function ensureDestination(
  ch: ClickHouseTarget,
  plan: TablePlan,
  defaultFor: (column: ColumnPlan) => Promise<string | undefined> = async () => undefined,
): Promise<string[]> {
  await ensureTables(ch, plan, plan.layout.cluster);
  const { database, table } = plan.destination;
  const have = await columnsOf(ch, database, table);
  if (have.size === 0) {
    await command(ch, createTableSql({ database, table, columns: plan.columns, layout: plan.layout, caps: ch.caps }));
    return [];
  }
  const where = `${database}.${table}`;
  const copied = new Set(copyColumnNames(plan));
  for (const [name, type] of have) {
    if (copied.has(name) || plan.excluded.includes(name)) continue;
    throw new UserError(
      `column ${JSON.stringify(name)} of ClickHouse table ${where} is no longer in PostgreSQL table ${plan.key} (dropped or renamed there); nothing was copied. ` +
        `To keep it in ClickHouse (new rows get its default), add ${JSON.stringify(name)} to exclude for ${plan.key} in the config file; ` +
        `to drop it: ALTER TABLE ${chQualified(database, table)} DROP COLUMN ${chIdent(name)} (a ${type})`,
      'SchemaChanged',
    );
  }
  const added: ColumnPlan[] = [];
  for (const col of plan.columns) {
    const type = have.get(col.name);
    if (type === undefined) added.push(col);
    // A column PostgreSQL made NOT NULL may stay Nullable in ClickHouse.
    else if (norm(type) !== norm(col.chType) && norm(type) !== norm(`Nullable(${col.chType})`)) {
      throw new UserError(
        `column ${JSON.stringify(col.name)} changed type: PostgreSQL ${col.pgType} maps to ${col.chType}, but ClickHouse ${where}.${col.name} is ${type}; nothing was copied. ` +
          `Fix: ALTER TABLE ${chQualified(database, table)} MODIFY COLUMN ${chIdent(col.name)} ${col.chType} if its values convert, ` +
          `or keep ${type} with types: {${JSON.stringify(col.name)}: ${JSON.stringify(type)}} for ${plan.key} in the config file, or drop the ClickHouse table to copy ${plan.key} again`,
        'SchemaChanged',
      );
    }
  }
  const cluster = plan.layout.cluster;
  const ddl = new Map<string, (t: string) => string>();
  for (const col of added) {
    const value = await defaultFor(col);
    const defaultSql = value === undefined ? undefined : `CAST(${chString(value)} AS ${col.chType})`;
    ddl.set(col.name, (t) => addColumnSql(database, t, col, cluster, defaultSql));
  }
  if (added.length === 0) return [];
  if (cluster && ch.kind === 'server') {
    const hosts = await clusterHosts(ch, cluster);
    // Sharded: each shard's local table first, so the Distributed table never names a column a shard lacks.
    const sharded = isSharded(hosts);
    const tables = sharded ? [`${table}${LOCAL_SUFFIX}`, table] : [table];
    await addColumnsOnCluster(ch, cluster, database, tables, [...ddl.keys()], (t, cols) =>
      // 18.16 takes no ON CLUSTER ALTER of a Distributed table when shards replicate internally (code 371), so it is
      // made again over the altered local tables: it holds no rows (inserts through it are synchronous).
      sharded && t === table
        ? [`DROP TABLE IF EXISTS ${chQualified(database, table)} ON CLUSTER ${chIdent(cluster)}`, createDistributedSql(database, table, cluster, shardingKeyOf(plan))]
        : cols.map((c) => ddl.get(c)!(t)), hosts);
  } else {
    for (const sql of ddl.values()) await command(ch, sql(table));
  }
  return added.map((c) => c.name);
}

/**
 * The plan as the destination takes it: one created before updated mode's
 * version column (ReplacingMergeTree(<cursor>), no such column) keeps being
 * written as before, ordered by the cursor (core/copy-version.ts).
 */
export async function followDestinationVersion<P extends Pick<TablePlan, 'layout' | 'cursor' | 'destination'>>(ch: ClickHouseTarget, plan: P): Promise<P> {
  const vc = plan.layout.versionColumn;
  if (!vc) return plan;
  const have = await columnsOf(ch, plan.destination.database, plan.destination.table);
  if (have.size === 0 || have.has(vc)) return plan;
  return { ...plan, layout: legacyLayout(plan) };
}

/** An updated-mode plan whose destination orders versions by the row's timestamp (made before the version column). */
export function ordersByTimestamp(plan: Pick<TablePlan, 'mode' | 'layout'>): boolean {
  return plan.mode === 'updated' && plan.layout.versionColumn === undefined;
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

/**
 * A timestamp cursor's watermark candidates: the tiebreaks checkpointed at the
 * latest time. Usually one; the caller picks the largest in PostgreSQL's order.
 */
export async function readKeysetWatermark(ch: ClickHouseTarget, key: string): Promise<{ micros: string; keys: string[] } | null> {
  const t = chQualified(ch.database, SYNC_CONTROL);
  const live = `${sinceReset(ch, key)} AND workflow_id NOT LIKE ${chString(BACKFILL_ID_PREFIX + '%')}`;
  const rows = await queryRows<{ us: string; k: string }>(
    ch,
    `SELECT DISTINCT toString(last_max_id) AS us, ifNull(last_key, '') AS k FROM ${t}
      WHERE ${live} AND last_max_id = (SELECT max(last_max_id) FROM ${t} WHERE ${live})`,
  );
  if (rows.length === 0) return null;
  return { micros: rows[0]!.us, keys: rows.map((r) => r.k) };
}

/**
 * Updated mode: the horizon recorded with the checkpoints at the watermark
 * (core/horizon.ts), microseconds; null when none was recorded. Several
 * runs may have ended at the same position: the latest one read again from
 * the earlier one's horizon, so its own horizon (horizons only grow with
 * time, so the largest) is the one that still counts.
 */
export async function readResumeHorizon(ch: ClickHouseTarget, key: string): Promise<string | null> {
  const t = chQualified(ch.database, SYNC_CONTROL);
  const live = `${sinceReset(ch, key)} AND workflow_id NOT LIKE ${chString(BACKFILL_ID_PREFIX + '%')}`;
  const rows = await queryRows<{ h: string | null }>(
    ch,
    `SELECT toString(max(resume_from)) AS h FROM ${t} WHERE ${live} AND last_max_id = (SELECT max(last_max_id) FROM ${t} WHERE ${live})`,
  );
  return rows[0]?.h ?? null;
}

/**
 * The cursors this table's live checkpoints (since the latest reset) were
 * written under: the recorded name, or for rows from before cursor_name
 * existed (or on a sync_control not yet altered: status creates nothing)
 * the kind their last_key shows.
 */
export async function readCheckpointCursors(ch: ClickHouseTarget, key: string): Promise<string[]> {
  const named = (await columnsOf(ch, ch.database, SYNC_CONTROL)).has('cursor_name');
  const inferred = `if(isNull(last_key), ${chString(UNNAMED_INTEGER)}, ${chString(UNNAMED_TIMESTAMP)})`;
  const rows = await queryRows<{ c: string }>(
    ch,
    `SELECT DISTINCT ${named ? `ifNull(cursor_name, ${inferred})` : inferred} AS c FROM ${chQualified(ch.database, SYNC_CONTROL)} WHERE ${sinceReset(ch, key)}`,
  );
  return rows.map((r) => r.c);
}

/** The settings this table's latest checkpoint was written with (JSON as recorded), or null. */
export async function readRecordedSettings(ch: ClickHouseTarget, key: string): Promise<unknown> {
  if (!(await columnsOf(ch, ch.database, SYNC_CONTROL)).has('table_settings')) return null;
  const rows = await queryRows<{ s: string }>(
    ch,
    // The latest sync's settings, none when it ran without: an older sync's
    // (an exclude, another cursor) would make verify compare the wrong thing.
    `SELECT ifNull(table_settings, '') AS s FROM ${chQualified(ch.database, SYNC_CONTROL)}
      WHERE ${sinceReset(ch, key)} ORDER BY synced_at DESC LIMIT 1`,
  );
  return rows.length === 0 || rows[0]!.s === '' ? null : JSON.parse(rows[0]!.s);
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

/** The largest cursor value ClickHouse holds after `afterId`, or null when it holds none. */
export async function lastCursorAfter(ch: ClickHouseTarget, plan: TablePlan, afterId: string | null): Promise<string | null> {
  const c = chIdent(plan.cursor);
  const rows = await queryRows<{ n: string; m: string }>(
    ch,
    `SELECT toString(count()) AS n, toString(max(${c})) AS m FROM ${chQualified(plan.destination.database, plan.destination.table)}
      WHERE ${afterId === null ? '1' : `${c} > ${intLiteral(afterId)}`}`,
  );
  return rows[0] && rows[0].n !== '0' ? rows[0].m : null;
}

/** Makes earlier checkpoints of this table stop counting; the next checkpoint is a second later. */
export async function writeResetMarker(ch: ClickHouseTarget, key: string): Promise<void> {
  // synced_at has whole seconds and rows of the marker's second count after
  // it: checkpoints written in that second before the marker (a destination
  // dropped right after a sync) would still count, and the sync's own next
  // checkpoints must not share it either. So the marker gets a second of its own.
  await new Promise((r) => setTimeout(r, 1100));
  await insertSyncControl(ch, { key, lastMaxId: '0', afterId: null, rows: 0, workflowId: RESET_MARKER });
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
  // Through a Distributed table (several shards) the insert returns once every shard has its rows,
  // so the checkpoint after it never passes rows still queued on this host.
  const settings: Record<string, string> = { ...insertSettings(ch, dedupToken), ...(plan.layout.cluster && ch.kind === 'server' ? { insert_distributed_sync: '1' } : {}) };
  const { database, table } = plan.destination;
  const copied = copyColumnNames(plan);
  const names = [database, table, ...copied];
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
      columns: copied,
      values: body,
      settings,
      signal: abortSignal,
    });
    return;
  }
  const columns = copied.map(chIdent);
  if (ch.kind === 'server') {
    await streamInsert(ch, `INSERT INTO ${chQualified(database, table)} (${columns.join(', ')}) FORMAT TabSeparated`, values, settings, abortSignal);
    return;
  }
  await ch.client.insert({
    table: chQualified(database, table),
    columns: columns as [string, ...string[]],
    format: 'TabSeparated',
    // The embedded connection decodes each Buffer on its own, which would cut
    // a multi-byte character straddling two chunks; strings from a stream
    // with an encoding are cut at character boundaries.
    values: values.setEncoding('utf8'),
    abort_signal: abortSignal,
    clickhouse_settings: settings,
  });
}

/**
 * An insert into a server with the query as the body's first line, the rows
 * after it, streamed. The client's insert() puts the query, column list and
 * all, in the URL, which servers cap (18.16: 16 kB, about 220 long column
 * names) and refuse with an empty HTTP 400. In the body the query is bounded
 * by max_query_size (256 KiB by default), more than PostgreSQL's 1,600
 * columns of 63-byte names need; every server reads a body so when the URL
 * names no query. The answer is checked here, so an empty one still says
 * what happened.
 */
async function streamInsert(ch: ClickHouseTarget, query: string, rows: Readable, settings: Record<string, string>, abortSignal?: AbortSignal): Promise<void> {
  const body = Readable.from(prefixed(Buffer.from(`${query}\n`), rows), { objectMode: false });
  const answer = await ch.client
    .exec({ query: '', values: body, clickhouse_settings: settings, abort_signal: abortSignal, ignore_error_response: true })
    .catch((e: unknown) => {
      throw closedMidRequest(e);
    });
  const chunks: Buffer[] = [];
  for await (const c of answer.stream) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const status = answer.http_status_code;
  const failed = status === undefined || status < 200 || status > 299 || answer.response_headers['x-clickhouse-exception-code'] !== undefined;
  if (failed) throw text.trim() === '' ? new EmptyHttpAnswer(status) : parseError(text);
  // A server that sent its headers early (progress headers) reports a later failure in the body.
  if (/\bCode: \d+\b.*Exception/s.test(text)) throw parseError(text);
}

/**
 * A server that refuses a request early closes the connection while the
 * body is still being sent; its answer is then lost to the write's EPIPE or
 * ECONNRESET. Still a network error (retried), saying what it may mean.
 */
function closedMidRequest(e: unknown): unknown {
  const code = (e as { code?: unknown })?.code;
  if (code !== 'EPIPE' && code !== 'ECONNRESET') return e;
  return Object.assign(new Error(`ClickHouse closed the connection while the insert was being sent (${(e as Error).message}); it may have refused the request before reading it, see the server's log`), { code });
}

async function* prefixed(head: Buffer, rest: Readable): AsyncGenerator<Buffer> {
  yield head;
  yield* rest as AsyncIterable<Buffer>;
}

export async function writeCheckpoint(
  ch: ClickHouseTarget,
  plan: TablePlan,
  range: ChunkRange,
  rows: number,
  workflowId: string,
  runId: string,
  horizon?: string,
): Promise<void> {
  // A retried checkpoint is written once; a later run (after the destination
  // was emptied and refilled) writes its own.
  const token = `checkpoint:${plan.key}:${range.afterId}:${range.toId}:${runId}`;
  if (plan.keyset) {
    // last_max_id holds the time, last_key the tiebreak; after_id is not used for keyset ranges.
    const p = decodePosition(range.toId);
    await insertSyncControl(ch, { key: plan.key, lastMaxId: p.micros, lastKey: p.key ?? '', afterId: null, rows, workflowId, plan, horizon }, token);
    return;
  }
  await insertSyncControl(ch, { key: plan.key, lastMaxId: range.toId, afterId: range.afterId, rows, workflowId, plan }, token);
}

/** One row of sync_control, stamped with the server's date and time. */
async function insertSyncControl(
  ch: ClickHouseTarget,
  row: { key: string; lastMaxId: string; lastKey?: string; afterId: string | null; rows: number; workflowId: string; plan?: Pick<TablePlan, 'cursor' | 'settings'>; horizon?: string },
  dedupToken?: string,
): Promise<void> {
  const after = row.afterId === null ? 'NULL' : intLiteral(row.afterId);
  const lastKey = row.lastKey === undefined ? 'NULL' : chString(row.lastKey);
  // Checkpoints name their cursor and settings; the reset marker has neither.
  const cursor = row.plan ? chString(row.plan.cursor) : 'NULL';
  const settings = row.plan?.settings ? chString(JSON.stringify(row.plan.settings)) : 'NULL';
  await ch.client.command({
    query: `INSERT INTO ${chQualified(ch.database, SYNC_CONTROL)}
      (table_name, sync_date, last_max_id, synced_at, after_id, rows_copied, workflow_id, last_key, cursor_name, table_settings${row.horizon === undefined ? '' : ', resume_from'})
      VALUES (${chString(row.key)}, today(), ${intLiteral(row.lastMaxId)}, now(), ${after}, ${row.rows}, ${chString(row.workflowId)}, ${lastKey}, ${cursor}, ${settings}${row.horizon === undefined ? '' : `, ${intLiteral(row.horizon)}`})`,
    clickhouse_settings: insertSettings(ch, dedupToken),
  });
}

/** Mutations take the whole query within max_query_size (256 KiB by default). */
const DELETE_BATCH = 10_000;
const MUTATION_WAIT_MS = 10 * 60_000;

/**
 * Deletes the rows of these cursor values and returns once the deletion is
 * done: the old server has only asynchronous mutations, so the wait polls
 * system.mutations (on every server, one way).
 */
export async function deleteRows(ch: ClickHouseTarget, plan: TablePlan, ids: string[], heartbeat: () => void): Promise<void> {
  const wheres: string[] = [];
  for (let i = 0; i < ids.length; i += DELETE_BATCH) wheres.push(`${chIdent(plan.cursor)} IN (${ids.slice(i, i + DELETE_BATCH).map(intLiteral).join(', ')})`);
  await deleteWhere(ch, plan, wheres, `${ids.length} rows`, heartbeat);
}

/** One DELETE mutation per predicate, then the wait until all are done (see deleteRows). */
export async function deleteWhere(ch: ClickHouseTarget, plan: TablePlan, wheres: string[], what: string, heartbeat: () => void): Promise<void> {
  const { database, table } = plan.destination;
  const cluster = plan.layout.cluster;
  if (cluster && ch.kind === 'server') {
    const hosts = await clusterHosts(ch, cluster);
    if (isSharded(hosts)) return deleteOnShards(ch, cluster, hosts, database, table, wheres, what, heartbeat, MUTATION_WAIT_MS);
  }
  for (const where of wheres) await ch.client.command({ query: `ALTER TABLE ${chQualified(database, table)} DELETE WHERE ${where}` });
  const deadline = Date.now() + MUTATION_WAIT_MS;
  for (;;) {
    const [open] = await queryRows<{ n: string }>(
      ch,
      `SELECT toString(count()) AS n FROM system.mutations WHERE database = ${chString(database)} AND table = ${chString(table)} AND is_done = 0`,
    );
    if (open?.n === '0') return;
    if (Date.now() > deadline) {
      throw new Error(`deleting ${what} of ${database}.${table} has not finished after ${MUTATION_WAIT_MS / 60_000} minutes; see system.mutations there`);
    }
    heartbeat();
    await new Promise((r) => setTimeout(r, 200));
  }
}

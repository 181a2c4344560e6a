import { Client, type PoolClient } from 'pg';
import type { PostgresConfig } from '../core/config';
import { UserError } from '../core/errors';
import { PULL_SETTINGS, pullBlocker } from '../core/pg-session';
import { chIdent, chQualified, chString, pgIdent, postgresqlQuotesExactly } from '../core/quote';
import { chRangeWhere } from './clickhouse';
import { planWhere } from './postgres';
import { pgTableRef } from '../core/table-name';
import { outOfRangeMessage } from '../core/type-map';
import type { ChunkRange, ColumnPlan, CopyStrategy, TablePlan } from '../core/types';
import type { ClickHouseTarget } from './deps';
import { pgTlsOptions } from '../core/tls';
import { VERSION_QUERY } from '../core/copy-version';

/**
 * The pull strategy: the embedded engine reads the chunk's id range itself
 * through its postgresql() table function (the range is pushed down to
 * PostgreSQL's index), 2-3x faster than any path through JavaScript.
 *
 * It is used only where it is exact: every column of a type postgresql()
 * reads exactly, no default of the role or the database that would change
 * what the engine reads or cut its read (the engine's own connection gets
 * those defaults, not pg2ch's session settings: see pullBlocker), and the
 * values a column cannot hold caught on the PostgreSQL side first,
 * and only names postgresql() writes exactly in its query to PostgreSQL.
 */
export async function chooseStrategy(
  setting: 'auto' | 'push' | 'pull',
  ch: ClickHouseTarget,
  plan: Omit<TablePlan, 'strategy'>,
  pgSource: PostgresConfig,
): Promise<CopyStrategy> {
  if (setting === 'push') return 'push';
  const unsafe = plan.columns.find((c) => !c.pullSafe);
  const misquoted = [plan.cursor, ...plan.columns.map((c) => c.name)].find((n) => !postgresqlQuotesExactly(n));
  let why: string | undefined;
  if (ch.kind !== 'embedded') why = 'it needs the embedded engine (CLICKHOUSE_URL unset)';
  else if (unsafe) why = `column ${JSON.stringify(unsafe.name)} (${unsafe.pgType}) is not read exactly by postgresql()`;
  else if (!postgresqlQuotesExactly(plan.source.schema) || !postgresqlQuotesExactly(plan.source.name)) why = `the table's name ${NAME_POSTGRESQL_MISQUOTES}`;
  else if (misquoted !== undefined) why = `the name of column ${JSON.stringify(misquoted)} ${NAME_POSTGRESQL_MISQUOTES}`;
  // postgresql() takes no TLS settings: its connection would not keep PG_URL's sslmode, certificates or checks.
  else if (pgSource.tls) why = `PG_URL uses TLS (sslmode=${pgSource.tls.mode}), which the embedded engine's postgresql() connection would not keep`;
  else why = pullBlocker(await defaultSettings(pgSource));
  if (!why) return 'pull';
  if (setting === 'pull') throw new UserError(`PG2CH_COPY_STRATEGY=pull is not possible for ${plan.key}: ${why}; use auto or push`, 'BadConfig');
  return 'push';
}

const NAME_POSTGRESQL_MISQUOTES = 'holds a double quote, a backslash or a control character, which postgresql() does not quote for PostgreSQL';

/** PULL_SETTINGS as a new connection without pg2ch's options gets them, as the engine's will. */
async function defaultSettings(cfg: PostgresConfig): Promise<Record<string, string>> {
  const client = new Client({ connectionString: cfg.url, ssl: pgTlsOptions(cfg.tls), connectionTimeoutMillis: 10_000 });
  // A server going away between statements must fail the query, not crash the worker.
  client.on('error', () => {});
  await client.connect();
  try {
    // Only the settings this server has: transaction_timeout is new in PostgreSQL 17.
    const r = await client.query<{ name: string; v: string }>(
      `SELECT name, current_setting(name) AS v FROM pg_settings WHERE name = ANY($1::text[])`,
      [PULL_SETTINGS],
    );
    return Object.fromEntries(r.rows.map((row) => [row.name, row.v]));
  } finally {
    await client.end();
  }
}

/**
 * The first value in the range a column's ClickHouse type cannot hold, with
 * how many rows hold such values; null when there are none.
 */
export async function findUnheld(
  client: PoolClient,
  plan: TablePlan,
  range: ChunkRange,
): Promise<{ column: ColumnPlan; value: string; rows: number } | null> {
  const guarded = plan.columns.filter((c) => c.guard);
  if (guarded.length === 0) return null;
  const bad = guarded.map((col) => `(${col.guard!.when})`);
  const which = bad.map((b, i) => `WHEN ${b} THEN ${i}`).join(' ');
  const value = bad.map((b, i) => `WHEN ${b} THEN ${pgIdent(guarded[i]!.name)}::text`).join(' ');
  const r = await client.query<{ i: number; v: string; n: string }>(
    `SELECT CASE ${which} END AS i, CASE ${value} END AS v, count(*) OVER ()::text AS n FROM ${pgTableRef(plan.source)}
      WHERE ${planWhere(plan, range.afterId, range.toId)} AND (${bad.join(' OR ')}) LIMIT 1`,
  );
  const row = r.rows[0];
  return row ? { column: guarded[row.i]!, value: row.v, rows: Number(row.n) } : null;
}

/** How many values of each column in the range its ClickHouse type cannot hold, for columns that have any. */
export async function countUnheld(client: PoolClient, plan: TablePlan, range: ChunkRange): Promise<Array<{ column: string; values: number }>> {
  const guarded = plan.columns.filter((c) => c.guard);
  if (guarded.length === 0) return [];
  const r = await client.query<Record<string, string>>(
    `SELECT ${guarded.map((c, i) => `count(*) FILTER (WHERE ${c.guard!.when})::text AS n${i}`).join(', ')} FROM ${pgTableRef(plan.source)}
      WHERE ${planWhere(plan, range.afterId, range.toId)}`,
  );
  const row = r.rows[0]!;
  return guarded.map((c, i) => ({ column: c.name, values: Number(row[`n${i}`]) })).filter((c) => c.values > 0);
}

/** Stops before anything is written if a value in the range is outside what its column holds. */
export async function checkRanges(client: PoolClient, plan: TablePlan, range: ChunkRange): Promise<void> {
  const found = await findUnheld(client, plan, range);
  if (!found) return;
  const { column, value } = found;
  throw new UserError(outOfRangeMessage(column.name, column.chType.replace(/^Nullable\((.*)\)$/, '$1'), column.guard!.holds, value), 'OutOfRange');
}

/**
 * The pull path's version (core/copy-version.ts), read by pg2ch's session
 * BEFORE the engine's read: the engine's postgresql() connection takes a
 * snapshot of its own, later, which pg2ch cannot read inside. A value read
 * before that snapshot is at most its xmax and at least every earlier copy's
 * (whose snapshots were all taken before this read), so the order holds.
 */
export async function pullVersion(client: PoolClient): Promise<string> {
  const r = await client.query<{ v: string }>(VERSION_QUERY);
  return r.rows[0]!.v;
}

/** INSERT ... SELECT FROM postgresql(): built here, run in-process; never logged, never in a payload. */
export function pullSql(plan: TablePlan, range: ChunkRange, src: PostgresConfig, version?: string): string {
  const cols = plan.columns.map((c) => chIdent(c.name)).join(', ');
  const fn = `postgresql(${[`${src.host}:${src.port}`, src.database, plan.source.name, src.user, src.password, plan.source.schema].map(chString).join(', ')})`;
  const vc = plan.layout.versionColumn;
  if (vc && version === undefined) throw new Error(`table ${plan.key}: a pull into ${vc} needs the copy's version`);
  // The version as a literal of the statement: one value for the whole copy, never a worker clock.
  const into = vc ? `${cols}, ${chIdent(vc)}` : cols;
  const select = vc ? `${cols}, toUInt64(${chString(version!)})` : cols;
  return `INSERT INTO ${chQualified(plan.destination.database, plan.destination.table)} (${into}) SELECT ${select} FROM ${fn} WHERE ${chRangeWhere(plan.cursor, range)}`;
}

import { Readable } from 'node:stream';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { insertSettings, insertTsv, wideReadSettings } from '../../activities/clickhouse';
import { chRangeText } from '../../activities/verify';
import { startSync } from '../../client/commands/sync';
import { runVerify } from '../../client/commands/verify';
import { readTemporalConfig, secretsOf, type TemporalConfig } from '../../core/config';
import { classify } from '../../core/errors';
import { chIdent, chQualified, pgIdent } from '../../core/quote';
import { tableKey } from '../../core/table-name';
import type { TableSettings } from '../../core/table-settings';
import type { TablePlan } from '../../core/types';
import { createPgPool } from '../../worker/connections';
import { envFor, pgPool, serverClickHouse, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// 1,500 columns with names near PostgreSQL's 63-byte limit: an INSERT whose
// column list went into the URL was about 90 kB, far over the old server's
// 16 kB, and the sync retried forever. Types the embedded engine pulls, so
// it copies the chunks through postgresql() and resumes through the push path.
const COLUMNS = 1500;
const TYPES = ['integer', 'text', 'smallint', 'date'] as const;
const columnName = (i: number) => `measurement_reported_by_the_sensor_with_a_long_name_${String(i).padStart(4, '0')}`;
const names = Array.from({ length: COLUMNS }, (_, i) => columnName(i));
const typeOf = (i: number) => TYPES[i % TYPES.length]!;

// Every tenth column takes NULLs. Few do: the old server keeps four files a
// part for a Nullable column, two for others, and cannot open more than
// 20,000 here, merges included.
const nullable = (i: number) => i % 10 === 0;

/** A value for row g of column i, NULL now and then where allowed; dates after 1970 (the old server's Date starts there). */
function valueSql(i: number): string {
  const v = { integer: `g * ${i + 1} - 5000`, text: `'v' || (g + ${i}) % 97`, smallint: `((g + ${i}) % 600 - 300)::smallint`, date: `date '2001-01-01' + (g * 7 + ${i}) % 9000` }[typeOf(i)];
  return nullable(i) ? `CASE WHEN (g + ${i}) % 3 = 0 THEN NULL ELSE ${v} END` : v;
}

async function seed(pool: pg.Pool, table: string, from: number, to: number): Promise<void> {
  await pool.query(`INSERT INTO ${pgIdent(table)} SELECT g, ${names.map((_, i) => valueSql(i)).join(', ')} FROM generate_series(${from}, ${to}) g`);
}

/** Each row as text, column by column, the same way on both sides; \N for NULL. */
async function pgValues(pool: pg.Pool, table: string): Promise<string[][]> {
  const r = await pool.query({ text: `SELECT id::text AS id_text, ${names.map((n) => `coalesce(${pgIdent(n)}::text, '\\N')`).join(', ')} FROM ${pgIdent(table)} ORDER BY id`, rowMode: 'array' });
  return r.rows as string[][];
}

async function chValues(ch: ClickHouseTarget, database: string, table: string): Promise<string[][]> {
  const rs = await ch.client.query({
    query: `SELECT toString(id), ${names.map((n) => `ifNull(toString(${chIdent(n)}), '\\\\N')`).join(', ')} FROM ${chQualified(database, table)} ORDER BY id`,
    // JSONCompact: the old server has no JSONCompactEachRow.
    format: 'JSONCompact',
    clickhouse_settings: wideReadSettings(COLUMNS + 1),
  });
  return ((await rs.json()) as unknown as { data: string[][] }).data;
}

/**
 * A sync or verify given a deadline: one whose activity retries forever is
 * stopped (every workflow running on the task queue), and the test fails
 * with the reason the retries gave.
 */
async function within<T>(client: Client, temporal: TemporalConfig, what: string, run: Promise<T>, ms = 150_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      const reasons: string[] = [];
      for await (const wf of client.workflow.list({ query: `TaskQueue = '${temporal.taskQueue}' AND ExecutionStatus = 'Running'` })) {
        const handle = client.workflow.getHandle(wf.workflowId, wf.runId);
        const pending = (await handle.describe().catch(() => undefined))?.raw.pendingActivities ?? [];
        reasons.push(...pending.map((p) => p.lastFailure?.message ?? ''));
        await handle.terminate('test deadline').catch(() => {});
      }
      reject(new Error(`${what} did not finish in ${ms / 1000} s; last activity failure: ${reasons.join('; ')}`));
    }, ms);
  });
  try {
    return await Promise.race([run, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

/** A --once sync, given a deadline. */
function syncWithin(client: Client, temporal: TemporalConfig, table: string, settings: TableSettings, chunkRows: number, ms?: number) {
  return within(client, temporal, `sync of ${table}`, startSync(client, temporal, table, { once: true, chunkRows, settings }, () => {}), ms);
}

/** The plan prepareTable makes for a table, with this copy strategy. */
async function planFor(worker: RunningWorker, table: string, settings: TableSettings, copyStrategy = worker.config.copyStrategy): Promise<TablePlan> {
  const cfg = worker.config;
  const acts = createActivities({ pg: createPgPool(cfg.postgres, 1), pgSource: cfg.postgres, copyStrategy, clickhouse: worker.worker.clickhouse, secrets: secretsOf(cfg) });
  return ((await new MockActivityEnvironment().run(acts.prepareTable, { table, settings })) as Awaited<ReturnType<typeof acts.prepareTable>>).plan;
}

describe.each<Target>(['server', 'embedded'])('a table of 1,500 columns with long names: %s', (target) => {
  const table = `wide_${target}`;
  const database = `it_wide_${target}`;
  // A plain MergeTree keeps every copy: a row doubled by the resume would show in count().
  const settings: TableSettings = { engine: 'MergeTree' };
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let temporal: TemporalConfig;

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${pgIdent(table)}`);
    await pool.query(`CREATE TABLE ${pgIdent(table)} (id bigint PRIMARY KEY, ${names.map((n, i) => `${pgIdent(n)} ${typeOf(i)}${nullable(i) ? '' : ' NOT NULL'}`).join(', ')})`);
    await seed(pool, table, 1, 100);
    const env = envFor(target, database, `it-wide-${target}`);
    temporal = readTemporalConfig(env);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${chQualified(database, table)}` });
    client = await temporalClient();
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  it('copies every value; an incremental run adds the new rows', async () => {
    expect((await planFor(worker, table, settings)).strategy).toBe(target === 'embedded' ? 'pull' : 'push');
    expect(await syncWithin(client, temporal, table, settings, 40)).toMatchObject({ rows: 100, chunks: 3, lastId: '100' });
    await seed(pool, table, 101, 120);
    expect(await syncWithin(client, temporal, table, settings, 40)).toMatchObject({ rows: 20, chunks: 1, lastId: '120' });
    const [fromPg, fromCh] = await Promise.all([pgValues(pool, table), chValues(ch, database, table)]);
    expect(fromCh.length).toBe(120);
    expect(fromCh[0]!.length).toBe(COLUMNS + 1);
    expect(fromCh).toEqual(fromPg);
  });

  // As in sync.test.ts: rows past the watermark with no checkpoint, as a
  // worker killed mid-insert leaves them, and a copy of a row that differs.
  it('a resumed chunk found partly in ClickHouse is compared and completed; verify finds the table equal', async () => {
    await seed(pool, table, 121, 180);
    const repaired = await within(client, temporal, 'verify --repair', runVerify(client, temporal, table, { fromId: '121', toId: '135', repair: true, progress: 'plain', settings }, () => {}));
    expect(repaired.repaired).toBe(15);
    const text = names.find((_, i) => typeOf(i) === 'text')!;
    await ch.client.command({
      query: `INSERT INTO ${chQualified(database, table)} (id, ${names.map(chIdent).join(', ')})
              SELECT toInt64(140), ${names.map((n) => (n === text ? `'differs'` : chIdent(n))).join(', ')} FROM ${chQualified(database, table)} WHERE id = 121`,
      // The embedded engine would take a repeated insert for a duplicate.
      clickhouse_settings: { ...insertSettings(ch), ...wideReadSettings(COLUMNS + 1) },
    });
    const resumed = await syncWithin(client, temporal, table, settings, 40);
    expect(resumed).toMatchObject({ rows: 60, lastId: '180' });
    const [fromPg, fromCh] = await Promise.all([pgValues(pool, table), chValues(ch, database, table)]);
    expect(fromCh.length).toBe(180);
    expect(fromCh).toEqual(fromPg);
    const checked = await within(client, temporal, 'verify', runVerify(client, temporal, table, { progress: 'plain', settings }, () => {}));
    expect(checked).toMatchObject({ equal: true, rows: 180, upTo: '180' });
  });

  // Each column's read buffer was 1 MiB in every part read: 1,500 columns of
  // one part took about 2 GB, several parts more than the server's 8 GB.
  it('a range of every column is read in bounded memory', async () => {
    const plan = await planFor(worker, table, settings);
    const copy = `${table}_one_part`;
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${chQualified(database, copy)}` });
    await ch.client.command({ query: `CREATE TABLE ${chQualified(database, copy)} AS ${chQualified(database, table)}` });
    await ch.client.command({ query: `INSERT INTO ${chQualified(database, copy)} SELECT * FROM ${chQualified(database, table)}`, clickhouse_settings: wideReadSettings(COLUMNS + 1) });
    const limited = target === 'server' ? serverClickHouse(envFor(target, database, `it-wide-${target}`), { max_memory_usage: '1000000000' }) : ch.client;
    try {
      const text = await chRangeText({ ...ch, client: limited }, { ...plan, destination: { database, table: copy } }, { afterId: '0', toId: '180', rows: 0 });
      expect(text.split('\n').length).toBe(181);
    } finally {
      if (limited !== ch.client) await limited.close();
    }
  });

  it.runIf(target === 'server')("the server's refusals are errors that say why", async () => {
    const plan = await planFor(worker, table, settings);
    const row = () => Readable.from([Buffer.from(['1', ...names.map(() => '1')].join('\t') + '\n')], { objectMode: false });
    // A deduplication token beyond the URL limit: the old server answers 400
    // with an empty body and closes the connection, so the answer is read or,
    // when the close wins the race, lost to the write; either says what happened.
    const withToken = { ...ch, caps: { ...ch.caps, dedupToken: true } };
    const oneColumn = { ...plan, columns: plan.columns.filter((c) => c.name === 'id') };
    const refused = classify(await insertTsv(withToken, oneColumn, Readable.from([Buffer.from('1\n')], { objectMode: false }), 'x'.repeat(20_000)).catch((e: unknown) => e));
    expect([
      { retryable: false, type: 'ClickHouseHttp', answered: /^ClickHouse answered HTTP 400 with an empty body: the request was refused before any SQL was read/.test(refused.message) },
      { retryable: true, type: 'NetworkError', answered: /^ClickHouse closed the connection while the insert was being sent \(.*(EPIPE|ECONNRESET)/.test(refused.message) },
    ]).toContainEqual({ retryable: refused.retryable, type: refused.type, answered: true });
    const missing = await insertTsv(ch, { ...plan, destination: { database, table: 'no_such_table' } }, row(), undefined).catch((e: unknown) => e);
    expect(classify(missing)).toMatchObject({ retryable: false, type: 'ClickHouseError', message: expect.stringMatching(/Table it_wide_server.no_such_table doesn't exist/) });
  });
});

// The embedded engine's postgresql() writes PostgreSQL identifiers with
// backslash escapes ("a\"b"), which PostgreSQL reads otherwise: such names
// are pushed, and a pull asked for is refused with the reason.
describe('names postgresql() cannot quote, on the embedded engine', () => {
  const database = 'it_wide_names';
  const hostileColumns = { name: 'odd_columns', columns: ['a"b', 'a\\b', 'plain'] };
  const hostileTable = { name: 'odd "t" \\ name', columns: ['v', 'w'] };
  const plainTable = { name: 'plain_names', columns: ['v', 'w'] };
  /** Names as pg2ch's CLI takes them: quoted where they hold a quote or a dot. */
  const keyFor = (name: string) => tableKey({ schema: 'public', name });
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let temporal: TemporalConfig;

  beforeAll(async () => {
    pool = pgPool();
    for (const t of [hostileColumns, hostileTable, plainTable]) {
      await pool.query(`DROP TABLE IF EXISTS ${pgIdent(t.name)}`);
      await pool.query(`CREATE TABLE ${pgIdent(t.name)} (id bigint PRIMARY KEY, ${pgIdent(t.columns[0]!)} text, ${pgIdent(t.columns[1]!)} integer${t.columns[2] ? `, ${pgIdent(t.columns[2])} text` : ''})`);
      const third = t.columns[2] ? `, 'p' || g` : '';
      await pool.query(`INSERT INTO ${pgIdent(t.name)} SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'x"\\' || g END, g * 3${third} FROM generate_series(1, 30) g`);
    }
    const env = envFor('embedded', database, 'it-wide-names');
    temporal = readTemporalConfig(env);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  const strategyFor = async (table: string, copyStrategy: 'auto' | 'pull') => (await planFor(worker, keyFor(table), {}, copyStrategy)).strategy;

  it('auto pulls plain names and pushes the others; pull asked for such names is refused, naming the name', async () => {
    expect(await strategyFor(plainTable.name, 'auto')).toBe('pull');
    expect(await strategyFor(hostileColumns.name, 'auto')).toBe('push');
    expect(await strategyFor(hostileTable.name, 'auto')).toBe('push');
    await expect(strategyFor(hostileColumns.name, 'pull')).rejects.toThrow(/pull is not possible for odd_columns: the name of column "a\\"b" .*postgresql\(\).*use auto or push/);
    await expect(strategyFor(hostileTable.name, 'pull')).rejects.toThrow(/pull is not possible for .*: the table's name .*postgresql\(\)/);
  });

  it.each([hostileColumns, hostileTable, plainTable])('syncs $name exactly', async (t) => {
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${chQualified(database, t.name)}` });
    expect(await syncWithin(client, temporal, keyFor(t.name), {}, 12, 90_000)).toMatchObject({ rows: 30, lastId: '30' });
    const cols = ['id', ...t.columns];
    const fromPg = await pool.query({ text: `SELECT ${cols.map((c, i) => `${pgIdent(c)}::text AS c${i}`).join(', ')} FROM ${pgIdent(t.name)} ORDER BY id`, rowMode: 'array' });
    const fromCh = await (
      await ch.client.query({ query: `SELECT ${cols.map((c) => `toString(${chIdent(c)})`).join(', ')} FROM ${chQualified(database, t.name)} ORDER BY id`, format: 'JSONCompactEachRow' })
    ).json<Array<string | null>>();
    expect(fromCh).toEqual(fromPg.rows);
  });
});

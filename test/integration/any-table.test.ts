import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { readStatusReport } from '../../client/commands/status';
import { startSync } from '../../client/commands/sync';
import { readTemporalConfig, secretsOf } from '../../core/config';
import { parseConfigFile, type TableSettings } from '../../core/table-settings';
import { createPgPool } from '../../worker/connections';
import { runCli } from '../support/cli';
import { envFor, services, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// Tables users bring: every column type, a timestamp cursor with updated
// rows, columns added and dropped, several tables at once. The PostgreSQL
// database here has America/Los_Angeles as its default time zone and the
// rows are written from sessions in Asia/Kolkata and Los Angeles, so any
// time-zone shift shows.
const TZ_DB = 'pg2ch_any_table';

function urlFor(database: string): string {
  const url = new URL(services().pgUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const TORTURE_DDL = `
  DROP TABLE IF EXISTS torture;
  DROP TYPE IF EXISTS mood;
  DROP DOMAIN IF EXISTS posint;
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀');
  CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
  CREATE TABLE torture (
    id bigint PRIMARY KEY,
    i2 smallint, i4 integer, i8 bigint,
    n12 numeric(12,2), n38 numeric(38,0), nfree numeric,
    r real, d double precision, b boolean,
    t text, vc varchar(20), ch char(5), u uuid,
    dt date, ts timestamp, tstz timestamptz, tm time, iv interval,
    js json, jb jsonb, ai int4[], at text[], by bytea, md mood,
    ip inet, net cidr, dom posint,
    gen numeric GENERATED ALWAYS AS (n12 * 2) STORED
  )`;

const COLUMNS = 'id, i2, i4, i8, n12, n38, nfree, r, d, b, t, vc, ch, u, dt, ts, tstz, tm, iv, js, jb, ai, at, by, md, ip, net, dom';

/** Rows of edge values; dates within what the server's types hold (old servers: 1970-2106). */
function tortureRows(wide: boolean): Array<{ tz: string; values: unknown[] }> {
  const lo = wide ? { dt: '1900-01-01', ts: '1900-01-01 00:00:00', tstz: '1900-01-01 00:00:00+00' } : { dt: '1970-01-02', ts: '1970-01-01 00:00:01', tstz: '1970-01-01 00:00:01+00' };
  const hi = wide
    ? { dt: '2299-12-31', ts: '2299-12-31 23:59:59.999999', tstz: '2299-12-31 23:59:59.999999+00' }
    : { dt: '2105-12-31', ts: '2105-12-31 23:59:59', tstz: '2105-12-31 23:59:59+00' };
  const nines = '9'.repeat(38);
  const rows: Array<{ tz: string; values: unknown[] }> = [
    { tz: 'Asia/Kolkata', values: [1, ...Array(27).fill(null)] },
    {
      tz: 'Asia/Kolkata',
      values: [2, -32768, -2147483648, '-9223372036854775808', '-9999999999.99', `-${nines}`, `-${'1234567890'.repeat(3)}12345678.${'1234567890'.repeat(3)}12345678`,
        '-3.4028235e38', '-1.7976931348623157e308', false, '', '', 'a', '00000000-0000-0000-0000-000000000000',
        lo.dt, lo.ts, lo.tstz, '00:00:00', '-178000000 years', '{}', '[]', '{}', '{}', '\\x', 'sad', '0.0.0.0', '10.0.0.0/8', 1],
    },
    {
      tz: 'Asia/Kolkata',
      values: [3, 32767, 2147483647, '9223372036854775807', '9999999999.99', nines, '0.00000000000000000000000000000000000001',
        'Infinity', '-Infinity', true, 'x', 'varchar 20 chars max', 'abcde', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
        hi.dt, hi.ts, hi.tstz, '23:59:59.999999', '178000000 years', '{"b":1,  "a":[1,2]}', '{"n": 12345678901234567890.123456789}',
        '{-2147483648,2147483647,NULL}', '{"a,b","q\\"uote","back\\\\slash",NULL,"tab\there","🎉","مرحبا","it\'s"}', '\\xdeadbeef00ff', 'happy 😀',
        '2001:db8::1', '2001:db8::/32', 2147483647],
    },
    {
      tz: 'America/Los_Angeles',
      values: [4, 0, 0, '0', '0.10', '0', '0', 'NaN', 'NaN', null, 'tab\there\nnew line\\back "q" \'s \\N', '🎉👍🏽 rtl עברית', 'é', null,
        '2024-03-10', '2024-03-10 02:30:00', '2024-03-10 02:30:00', '12:00:00.5', '1 year 2 mons 3 days 04:05:06.789', '"just a string"',
        '{"esc": "q\\" b\\\\ n\\n t\\t u\\u00e9", "rtl": "مرحبا", "emoji": "🎉"}', '{}', '{"",NULL}', '\\x00', 'ok', '192.168.0.1/24', '192.168.0.0/24', 42],
    },
    // Daylight-saving boundaries in the writing session's zone.
    { tz: 'America/Los_Angeles', values: [5, null, null, null, '-0.01', null, '0.5', '1.5', '0.1', true, 'fall back', null, null, null, '2024-11-03', '2024-11-03 01:30:00', '2024-11-03 01:30:00', null, null, null, null, null, null, null, null, null, null, null] },
    { tz: 'Asia/Kolkata', values: [6, null, null, null, null, null, '-0', '-0', '-0', false, 'kolkata', null, null, null, '2024-03-31', '2024-03-31 02:30:00.000001', '2024-03-31 02:30:00.000001', null, null, null, null, null, null, null, null, null, null, null] },
  ];
  if (wide) {
    // Before 1970 and after 2106: what the old server's DateTime cannot hold.
    rows.push({ tz: 'Asia/Kolkata', values: [7, null, null, null, null, null, null, null, null, null, 'moon', null, null, null, '1960-01-01', '1969-07-20 20:17:40.5', '1969-07-20 20:17:40.5+00', null, null, null, null, null, null, null, null, null, null, null] });
    rows.push({ tz: 'America/Los_Angeles', values: [8, null, null, null, null, null, null, null, null, null, 'future', null, null, null, '2200-01-01', '2200-01-01 00:00:00', '2150-06-01 12:00:00.000001+05:30', null, null, null, null, null, null, null, null, null, null, null] });
  }
  return rows;
}

/** Numbers as values: trailing zeros, NaN and infinity spellings differ between the two. */
function normNumber(v: string | null): string | null {
  if (v === null) return null;
  if (/^nan$/i.test(v)) return 'NaN';
  if (/^[+]?inf(inity)?$/i.test(v)) return 'Infinity';
  if (/^-inf(inity)?$/i.test(v)) return '-Infinity';
  if (/e/i.test(v)) return String(Number(v));
  let s = v.includes('.') ? v.replace(/0+$/, '').replace(/\.$/, '') : v;
  if (s === '-0') s = '0';
  return s;
}
const normFloat = (v: string | null) => (v === null ? null : ['NaN', 'Infinity', '-Infinity'].includes(normNumber(v)!) ? normNumber(v) : String(Number(v) === 0 ? 0 : Number(v)));
const normBool = (v: string | null) => (v === '1' ? 'true' : v === '0' ? 'false' : v);

/** [column, PostgreSQL expression, ClickHouse expression, normaliser] for the value-by-value comparison. */
function comparisons(wide: boolean, arrays: boolean): Array<[string, string, string, ((v: string | null) => string | null)?]> {
  const tsFmt = wide ? `'YYYY-MM-DD HH24:MI:SS.US'` : `'YYYY-MM-DD HH24:MI:SS'`;
  const trunc = (c: string) => (wide ? c : `date_trunc('second', ${c})`);
  return [
    ['i2', 'i2::text', 'toString(i2)'],
    ['i4', 'i4::text', 'toString(i4)'],
    ['i8', 'i8::text', 'toString(i8)'],
    ['n12', 'n12::text', 'toString(n12)', normNumber],
    ['n38', 'n38::text', 'toString(n38)', normNumber],
    ['nfree', 'nfree::text', 'toString(nfree)', normNumber],
    ['gen', 'gen::text', 'toString(gen)', normNumber],
    ['r', 'r::text', 'toString(r)', normFloat],
    ['d', 'd::text', 'toString(d)', normFloat],
    ['b', 'b::text', 'toString(b)', normBool],
    ['t', 't', 't'],
    ['vc', 'vc::text', 'vc'],
    ['ch', `CASE WHEN ch IS NOT NULL THEN format('%s', ch) END`, 'ch'],
    ['u', 'u::text', 'toString(u)'],
    ['dt', 'dt::text', 'toString(dt)'],
    ['ts', `to_char(${trunc('ts')}, ${tsFmt})`, 'toString(ts)'],
    ['tstz', `to_char(${trunc(`(tstz AT TIME ZONE 'UTC')`)}, ${tsFmt})`, 'toString(tstz)'],
    ['tm', 'tm::text', 'tm'],
    ['iv', 'iv::text', 'iv'],
    ['js', 'js::text', 'js'],
    ['jb', 'jb::text', 'jb'],
    // A NULL array arrives as [] (ClickHouse has no Nullable(Array)).
    ['ai', `coalesce(array_to_json(ai)::text, '[]')`, `concat('[', arrayStringConcat(arrayMap(x -> ifNull(toString(x), 'null'), ai), ','), ']')`],
    // Arrays of text are PostgreSQL's array text where the server cannot read them back exactly (18.16).
    arrays
      ? ['at', `coalesce(array_to_string(at, '|', '(null)'), '')`, `arrayStringConcat(arrayMap(x -> ifNull(x, '(null)'), at), '|')`]
      : ['at', 'at::text', 'at'],
    ['by', 'by::text', 'by'],
    ['md', 'md::text', 'md'],
    ['ip', 'ip::text', 'ip'],
    ['net', 'net::text', 'net'],
    ['dom', 'dom::text', 'toString(dom)'],
  ];
}

describe.each(['embedded', 'server'] as Target[])('any table, every type: %s', (target) => {
  const database = `it_any_${target}`;
  let admin: pg.Pool;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: services().pgUrl, max: 1 });
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [TZ_DB]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${TZ_DB}`);
    await admin.query(`ALTER DATABASE ${TZ_DB} SET timezone = 'America/Los_Angeles'`);
    pool = new pg.Pool({ connectionString: urlFor(TZ_DB), max: 3 });
    env = { ...envFor(target, database, `it-any-${target}`), PG_URL: urlFor(TZ_DB) };
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
    await admin?.end();
  });

  const sync = (table: string, settings: TableSettings = {}, chunkRows = 1000) =>
    startSync(client, readTemporalConfig(env), table, { once: true, chunkRows, settings }, () => {});

  async function chRows<T>(query: string): Promise<T[]> {
    return (await ch.client.query({ query, format: 'JSONEachRow' })).json<T>();
  }

  const wide = () => ch.caps.dateTime64;

  it('copies a table with every column type value by value, whatever the session time zones', async () => {
    await pool.query(TORTURE_DDL);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.torture` });
    const rows = tortureRows(wide());
    const params = rows[0]!.values.map((_, i) => `$${i + 1}`).join(', ');
    for (const r of rows) {
      const c = await pool.connect();
      try {
        await c.query(`SET TimeZone = '${r.tz}'`);
        await c.query(`INSERT INTO torture (${COLUMNS}) VALUES (${params})`, r.values);
        await c.query('RESET TimeZone');
      } finally {
        c.release();
      }
    }
    const result = await sync('torture', {}, 3);
    expect(result!.rows).toBe(rows.length);

    const types = Object.fromEntries(
      (await chRows<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = '${database}' AND table = 'torture'`)).map((c) => [c.name, c.type]),
    );
    expect(types.tstz).toBe(wide() ? "Nullable(DateTime64(6, 'UTC'))" : "Nullable(DateTime('UTC'))");
    expect(types.nfree).toBe(ch.caps.decimal256 ? 'Nullable(Decimal(76, 38))' : 'Nullable(String)');
    expect(types.ai).toBe('Array(Nullable(Int32))');
    expect(types.at).toBe(ch.caps.arraysReadEscaped ? 'Array(Nullable(String))' : 'Nullable(String)');
    expect(types.dom).toBe('Nullable(Int32)');
    expect(types.md).toBe('Nullable(String)');

    const cmp = comparisons(wide(), ch.caps.arraysReadEscaped);
    const pgData = await pool.query<Record<string, string | null>>(`SELECT id::text AS id, ${cmp.map(([n, e]) => `${e} AS ${n}`).join(', ')} FROM torture ORDER BY id`);
    const chData = await chRows<Record<string, string | null>>(`SELECT toString(id) AS id, ${cmp.map(([n, , e]) => `${e} AS ${n}`).join(', ')} FROM ${database}.torture ORDER BY id`);
    expect(chData.map((r) => r.id)).toEqual(pgData.rows.map((r) => r.id));
    const mismatches: string[] = [];
    for (let i = 0; i < chData.length; i++) {
      for (const [name, , , norm] of cmp) {
        const n = norm ?? ((v: string | null) => v);
        const p = n(pgData.rows[i]![name] ?? null);
        const c = n(chData[i]![name] ?? null);
        if (p !== c) mismatches.push(`id ${chData[i]!.id} ${name}: PostgreSQL ${JSON.stringify(p)} ClickHouse ${JSON.stringify(c)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('stops on a value the ClickHouse type cannot hold, naming it, unless the config says clamp or NULL', async () => {
    await pool.query('DROP TABLE IF EXISTS odd_values');
    await pool.query('CREATE TABLE odd_values (id bigint PRIMARY KEY, at timestamp, amount numeric(10,2))');
    await pool.query(`INSERT INTO odd_values VALUES (1, '2024-01-01', 1.5), (2, 'infinity', 'NaN'), (3, '2024-01-02', 2)`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.odd_values` });
    await expect(sync('odd_values')).rejects.toThrow(/column "at" value infinity is outside what ClickHouse/);
    expect(await chRows(`SELECT id FROM ${database}.odd_values`)).toEqual([]);
    await ch.client.command({ query: `DROP TABLE ${database}.odd_values` });
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.odd_values_null` });
    expect((await sync('odd_values', { outOfRange: 'null', destination: 'odd_values_null' }))!.rows).toBe(3);
    const got = await chRows<{ id: string; at: string | null; amount: string | null }>(
      `SELECT toString(id) AS id, toString(at) AS at, toString(amount) AS amount FROM ${database}.odd_values_null ORDER BY id`,
    );
    expect(got[1]).toEqual({ id: '2', at: null, amount: null });
    expect(got[2]!.at).toMatch(/^2024-01-02 00:00:00/);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.odd_values_clamp` });
    expect((await sync('odd_values', { outOfRange: 'clamp', destination: 'odd_values_clamp', exclude: ['amount'] }))!.rows).toBe(3);
    const [clamped] = await chRows<{ at: string }>(`SELECT toString(at) AS at FROM ${database}.odd_values_clamp WHERE id = 2`);
    expect(clamped!.at).toBe(wide() ? (ch.caps.wideDateRange ? '2299-12-31 23:59:59.999999' : '2283-11-11 23:59:59.999999') : '2105-12-31 23:59:59');
  });

  it('a type without a mapping of its own is copied as its text; a type override or exclude chooses otherwise', async () => {
    await pool.query('DROP TABLE IF EXISTS with_point');
    await pool.query(`CREATE TABLE with_point (id int PRIMARY KEY, p point, label text)`);
    await pool.query(`INSERT INTO with_point VALUES (1, '(1,2)', 'a'), (2, NULL, 'b')`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.with_point` });
    expect((await sync('with_point'))!.rows).toBe(2);
    const got = await chRows<{ p: string | null }>(`SELECT p FROM ${database}.with_point ORDER BY id`);
    expect(got).toEqual([{ p: '(1,2)' }, { p: null }]);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.with_point_lc` });
    expect((await sync('with_point', { types: { p: 'String' }, destination: 'with_point_lc' }))!.rows).toBe(2);
    const [t] = await chRows<{ type: string }>(`SELECT type FROM system.columns WHERE database = '${database}' AND table = 'with_point_lc' AND name = 'p'`);
    expect(t!.type).toBe('Nullable(String)');
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.with_point_ex` });
    expect((await sync('with_point', { exclude: ['p'], destination: 'with_point_ex' }))!.rows).toBe(2);
  });

  it('updated mode: changed and soft-deleted rows replace their old versions (FINAL equals PostgreSQL)', async () => {
    await pool.query('DROP TABLE IF EXISTS accounts');
    await pool.query(`CREATE TABLE accounts (
      id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2), deleted boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL DEFAULT now())`);
    // One statement: every row shares one updated_at, so chunks are cut by the id tiebreak.
    await pool.query(`INSERT INTO accounts (id, name, balance) SELECT g, 'user ' || g, g * 1.25 FROM generate_series(1, 10000) g`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.accounts` });
    const settings: TableSettings = { mode: 'updated', softDelete: 'deleted' };
    // A run reads again what was stamped in the second before the previous run read it (README Guarantees):
    // waiting that second before each run keeps the counts below exact.
    const settle = () => new Promise((r) => setTimeout(r, 1_100));
    await settle();
    expect((await sync('accounts', settings))!.rows).toBe(10000);

    await pool.query(`UPDATE accounts SET balance = balance + 1000, name = name || ' (changed)', updated_at = clock_timestamp() WHERE id % 100 = 7`);
    await pool.query(`UPDATE accounts SET deleted = true, updated_at = clock_timestamp() WHERE id IN (3, 5000, 9999)`);
    await pool.query(`INSERT INTO accounts (id, name, balance) VALUES (10001, 'new', 1)`);
    await settle();
    const second = await sync('accounts', settings);
    expect(second!.rows).toBe(100 + 3 + 1);

    const hidesDeleted = ch.caps.isDeleted;
    const pgRows = await pool.query<{ id: string; name: string; balance: string; deleted: string }>(
      `SELECT id::text AS id, name, balance::text AS balance, deleted::int::text AS deleted FROM accounts ${hidesDeleted ? 'WHERE NOT deleted' : ''} ORDER BY id`,
    );
    const chData = await chRows<{ id: string; name: string; balance: string; deleted: string }>(
      `SELECT toString(id) AS id, name, toString(balance) AS balance, toString(deleted) AS deleted FROM ${database}.accounts FINAL ORDER BY id`,
    );
    expect(chData.length).toBe(pgRows.rows.length);
    expect(chData.map((r) => ({ ...r, balance: normNumber(r.balance) }))).toEqual(pgRows.rows.map((r) => ({ ...r, balance: normNumber(r.balance) })));
    const changed = chData.find((r) => r.id === '107')!;
    expect(changed.name).toBe('user 107 (changed)');

    // A run with nothing new copies nothing.
    await settle();
    expect((await sync('accounts', settings))!.rows).toBe(0);
  });

  it('a column added in PostgreSQL appears in ClickHouse on the next run; older rows get its default; dropped and retyped columns stop the sync', async () => {
    await pool.query('DROP TABLE IF EXISTS evolving');
    await pool.query(`CREATE TABLE evolving (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, event_name text NOT NULL)`);
    await pool.query(`INSERT INTO evolving SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', 'e' || g FROM generate_series(1, 3000) g`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.evolving` });
    expect((await sync('evolving'))!.rows).toBe(3000);

    await pool.query(`ALTER TABLE evolving ADD COLUMN source text NOT NULL DEFAULT 'web', ADD COLUMN score integer`);
    await pool.query(`INSERT INTO evolving SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', 'e' || g, 'app', g FROM generate_series(3001, 4000) g`);
    expect((await sync('evolving'))!.rows).toBe(1000);
    const got = await chRows<{ source: string; score: string | null; n: string }>(
      `SELECT source, toString(score) AS score, toString(count()) AS n FROM ${database}.evolving GROUP BY source, score IS NULL AS score_null, score ORDER BY source LIMIT 2`,
    );
    expect(got[0]).toMatchObject({ source: 'app' });
    const [web] = await chRows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.evolving WHERE source = 'web' AND score IS NULL`);
    expect(web!.n).toBe('3000');
    const [scored] = await chRows<{ n: string }>(`SELECT toString(sum(score)) AS n FROM ${database}.evolving`);
    expect(scored!.n).toBe(String(((3001 + 4000) * 1000) / 2));

    // Dropped: stops before writing, naming the column and the fix.
    await pool.query(`ALTER TABLE evolving DROP COLUMN score`);
    await pool.query(`INSERT INTO evolving SELECT g, now(), 'late', 'app' FROM generate_series(4001, 4010) g`);
    await expect(sync('evolving')).rejects.toThrow(/column "score" of ClickHouse table .*evolving is no longer in PostgreSQL table evolving .*exclude/);
    const [count] = await chRows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.evolving`);
    expect(count!.n).toBe('4000');
    // Kept by the config: the sync goes on.
    expect((await sync('evolving', { exclude: ['score'] }))!.rows).toBe(10);

    // Retyped: stops, naming the column and both types.
    await pool.query(`ALTER TABLE evolving ALTER COLUMN source DROP DEFAULT, ALTER COLUMN source TYPE integer USING length(source)`);
    await expect(sync('evolving', { exclude: ['score'] })).rejects.toThrow(/column "source" changed type: PostgreSQL integer maps to Int32, but ClickHouse .*source is String/);
  });

  it('a column changing while a run has its plan: the chunk is refused before anything is written', async () => {
    await pool.query('DROP TABLE IF EXISTS racing');
    await pool.query(`CREATE TABLE racing (id bigint PRIMARY KEY, v text)`);
    await pool.query(`INSERT INTO racing SELECT g, 'v' FROM generate_series(1, 10) g`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.racing` });
    const cfg = worker.config;
    const acts = createActivities({ pg: createPgPool(cfg.postgres, 1), pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
    const menv = new MockActivityEnvironment();
    const { plan } = (await menv.run(acts.prepareTable, { table: 'racing' })) as Awaited<ReturnType<typeof acts.prepareTable>>;
    await pool.query(`ALTER TABLE racing ADD COLUMN extra int DEFAULT 1`);
    await expect(menv.run(acts.insertBatch, { plan, range: { afterId: null, toId: '10', rows: 10 }, resume: false })).rejects.toThrow(/columns of racing changed in PostgreSQL/);
    expect(await chRows(`SELECT id FROM ${database}.racing`)).toEqual([]);
  });

  it('a timestamp cursor in append mode, and a second table beside the first', async () => {
    await pool.query('DROP TABLE IF EXISTS readings');
    await pool.query(`CREATE TABLE readings (sensor text NOT NULL, taken_at timestamptz NOT NULL, reading_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), value double precision)`);
    await pool.query(`INSERT INTO readings (sensor, taken_at, value) SELECT 's' || (g % 7), '2024-06-01'::timestamptz + (g / 3) * interval '1 second', g / 10.0 FROM generate_series(1, 5000) g`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.readings` });
    const settings: TableSettings = { cursor: 'taken_at' };
    expect((await sync('readings', settings, 700))!.rows).toBe(5000);
    await pool.query(`INSERT INTO readings (sensor, taken_at, value) SELECT 'late', '2024-07-01 00:00:00-07'::timestamptz, g FROM generate_series(1, 50) g`);
    expect((await sync('readings', settings, 700))!.rows).toBe(50);
    const [n] = await chRows<{ n: string; u: string }>(`SELECT toString(count()) AS n, toString(uniqExact(reading_id)) AS u FROM ${database}.readings`);
    expect(n).toEqual({ n: '5050', u: '5050' });

    // Status reads the position with the config's cursor: the last row's time (UTC) and tiebreak, nothing waiting.
    const config = parseConfigFile('pg2ch.config.json', { tables: { readings: settings } });
    const late = await pool.query<{ id: string }>(`SELECT reading_id::text AS id FROM readings WHERE sensor = 'late' ORDER BY reading_id DESC LIMIT 1`);
    const [status] = await readStatusReport(client, readTemporalConfig(env), 'readings', config);
    expect(status).toMatchObject({ watermark: `2024-07-01T07:00:00.000Z / ${late.rows[0]!.id}`, lagRows: 0, lagSeconds: 0 });
    await pool.query(`INSERT INTO readings (sensor, taken_at, value) VALUES ('later', '2024-07-01 00:00:01-07', 1)`);
    const [behind] = await readStatusReport(client, readTemporalConfig(env), 'readings', config);
    expect(behind!.lagRows).toBe(1);
    expect(behind!.lagSeconds).toBeGreaterThan(0);
  });

  it('pg2ch sync --all runs one workflow per table of the config file; one failing does not stop the others', async () => {
    await pool.query('DROP TABLE IF EXISTS first_tbl, second_tbl');
    await pool.query(`CREATE TABLE first_tbl (id bigint PRIMARY KEY, v text)`);
    await pool.query(`CREATE TABLE second_tbl (id integer PRIMARY KEY, v text)`);
    await pool.query(`INSERT INTO first_tbl SELECT g, 'a' FROM generate_series(1, 1500) g`);
    await pool.query(`INSERT INTO second_tbl SELECT g, 'b' FROM generate_series(1, 700) g`);
    for (const t of ['first_tbl', 'second_copy']) await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${t}` });
    const dir = mkdtempSync(join(tmpdir(), 'pg2ch-config-'));
    const file = join(dir, 'pg2ch.config.yaml');
    writeFileSync(
      file,
      ['defaults:', '  chunkRows: 500', 'tables:', '  first_tbl:', '  public.second_tbl:', '    destination: second_copy', '  missing_tbl:', '    cursor: id', ''].join('\n'),
    );
    const run = runCli(['sync', '--all', '--once', '--config', file], env);
    const { code } = await run.exit;
    expect(run.stdout()).toMatch(/synced first_tbl: 1500 rows copied in 3 chunks/);
    expect(run.stdout()).toMatch(/synced second_tbl: 700 rows copied in 2 chunks/);
    expect(run.stdout()).toMatch(/failed missing_tbl: table missing_tbl does not exist in PostgreSQL/);
    expect(code).toBe(1);
    const [n] = await chRows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.second_copy`);
    expect(n!.n).toBe('700');

    // A bad value in the file: exit 2, naming the key and what is expected, before anything starts.
    writeFileSync(file, ['tables:', '  first_tbl:', '    mode: upsert', ''].join('\n'));
    const bad = runCli(['sync', 'first_tbl', '--config', file], env);
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr()).toContain(`tables.first_tbl.mode: expected "append", "updated" or "cdc", got "upsert"`);
  });
});

import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { startSync } from '../../client/commands/sync';
import { runVerify } from '../../client/commands/verify';
import { readTemporalConfig, secretsOf } from '../../core/config';
import { PINNED_IF_PRESENT, PINNED_SETTINGS, sessionOptions } from '../../core/pg-session';
import { createPgPool } from '../../worker/connections';
import { envFor, services, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// An administrator's defaults pg2ch must not inherit: every setting that
// changes PostgreSQL's text output, set on the database, and timeouts that
// would cut a long COPY, set on the role pg2ch connects as. A row-level
// security policy makes every statement that reads the row with id 1 take
// 1.5 s, longer than the role's statement_timeout and transaction_timeout.
const DB = 'pg2ch_hostile';
const ROLE = 'pg2ch_hostile';
const ROLE_PASSWORD = 'hostile-Pa55';
const DATABASE_DEFAULTS: Record<string, string> = {
  bytea_output: 'escape',
  DateStyle: 'SQL, DMY',
  IntervalStyle: 'sql_standard',
  TimeZone: 'Asia/Kolkata',
  extra_float_digits: '0',
  client_encoding: 'LATIN1',
  quote_all_identifiers: 'on',
  search_path: 'nowhere',
  standard_conforming_strings: 'off',
  xmloption: 'document',
  xmlbinary: 'hex',
  array_nulls: 'off',
  transform_null_equals: 'on',
  timezone_abbreviations: 'India',
  default_transaction_isolation: 'serializable',
  // pg2ch only reads the source: nothing of it may need a writing transaction.
  default_transaction_read_only: 'on',
};
const ROLE_DEFAULTS: Record<string, string> = {
  statement_timeout: '1s',
  transaction_timeout: '1s',
  lock_timeout: '1ms',
  idle_in_transaction_session_timeout: '20ms',
  idle_session_timeout: '500ms',
  exit_on_error: 'on',
};

// The pull strategy's case: a database whose output defaults are PostgreSQL's
// own (DateStyle ISO, as the old check wanted), and a role whose statements
// are cut after a second.
const PULL_DB = 'pg2ch_hostile_pull';
const PULL_ROLE = 'pg2ch_hostile_pull';

function urlFor(database: string, user?: string, password?: string): string {
  const url = new URL(services().pgUrl);
  url.pathname = `/${database}`;
  if (user) {
    url.username = user;
    url.password = password!;
  }
  return url.toString();
}

const setAll = (target: string, settings: Record<string, string>) =>
  Object.entries(settings).map(([k, v]) => `ALTER ${target} SET ${k} = '${v}'`);

/** Creates the database and role afresh, the table read slowly through the role. */
async function createHostile(admin: pg.Pool, db: string, role: string, dbDefaults: Record<string, string>, roleDefaults: Record<string, string>, ddl: string[]): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  await admin.query(`CREATE DATABASE ${db}`);
  // The fixture's own session pins what it needs, as pg2ch does.
  const own = new pg.Pool({ connectionString: urlFor(db), max: 1, options: sessionOptions() });
  try {
    await own.query(`CREATE FUNCTION public.pg2ch_slow(id bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT CASE WHEN id = 1 THEN (SELECT true FROM pg_sleep(1.5)) ELSE true END $$`);
    for (const sql of ddl) await own.query(sql);
    await own.query(`ALTER TABLE hostile_values ENABLE ROW LEVEL SECURITY`);
    await own.query(`CREATE POLICY slow_read ON hostile_values FOR SELECT USING (public.pg2ch_slow(id))`);
    await own.query(`GRANT SELECT ON hostile_values TO ${role}`);
  } finally {
    await own.end();
  }
  for (const sql of [...setAll(`DATABASE ${db}`, dbDefaults), ...setAll(`ROLE ${role}`, roleDefaults)]) await admin.query(sql);
}

async function chRows<T>(ch: ClickHouseTarget, query: string): Promise<T[]> {
  return (await ch.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

describe('hostile role and database defaults', () => {
  let admin: pg.Pool;
  const pools: pg.Pool[] = [];

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: services().pgUrl, max: 1 });
    await createHostile(admin, DB, ROLE, DATABASE_DEFAULTS, ROLE_DEFAULTS, [
      `CREATE TYPE public.mood AS ENUM ('sad', 'ok')`,
      `CREATE TABLE public.hostile_values (
         id bigint PRIMARY KEY, by bytea, dt date, iv interval, ts timestamp, tstz timestamptz,
         d double precision, t text, n numeric(30,9), md public.mood, x xml)`,
      `INSERT INTO public.hostile_values
         SELECT g, '\\xdeadbeef00', '2024-03-10', '1 year 2 mons 3 days 04:05:06.789', '2024-03-10 02:30:00', '2024-06-01 12:00:00+05:30',
                0.1::float8 + 0.2::float8, 'café', '12345678901234567890.123456789', 'ok', 'a<b/>'
           FROM generate_series(1, 3) g`,
    ]);
    await createHostile(admin, PULL_DB, PULL_ROLE, {}, { statement_timeout: '1s' }, [
      `CREATE TABLE public.hostile_values (id bigint PRIMARY KEY, t text, ts timestamp)`,
      `INSERT INTO public.hostile_values SELECT g, 'row ' || g, '2024-01-01 00:00:00'::timestamp + g * interval '1 hour' FROM generate_series(1, 3) g`,
    ]);
  });

  afterAll(async () => {
    for (const p of pools) await p.end();
    await admin?.end();
  });

  it("pg2ch's sessions have every pinned setting in effect, whatever the role's and database's defaults", async () => {
    // What each pinned value reads back as (PostgreSQL normalises spellings).
    const expected: Record<string, string> = {};
    const probe = await admin.connect();
    try {
      for (const [name, value] of [...PINNED_SETTINGS, ...PINNED_IF_PRESENT]) {
        const r = await probe.query<{ v: string }>(`SELECT set_config($1, $2, false) AS v`, [name, value]);
        expected[name] = r.rows[0]!.v;
      }
    } finally {
      probe.release(true);
    }
    const pool = createPgPool({ url: urlFor(DB, ROLE, ROLE_PASSWORD), host: '', port: 0, database: DB, user: ROLE, password: ROLE_PASSWORD }, 1);
    try {
      const names = Object.keys(expected);
      const r = await pool.query<{ name: string; v: string }>(`SELECT name, current_setting(name) AS v FROM unnest($1::text[]) AS name`, [names]);
      expect(Object.fromEntries(r.rows.map((row) => [row.name, row.v]))).toEqual(expected);
      // The defaults are really there for a session without pg2ch's options.
      const plain = new pg.Client({ connectionString: urlFor(DB, ROLE, ROLE_PASSWORD) });
      await plain.connect();
      const seen = await plain.query<{ b: string; s: string }>(`SELECT current_setting('bytea_output') AS b, current_setting('statement_timeout') AS s`);
      await plain.end();
      expect(seen.rows[0]).toEqual({ b: 'escape', s: '1s' });
    } finally {
      await pool.end();
    }
  });

  it('the embedded engine does not pull where the role would cut its read, and says why when pull is forced', async () => {
    const env = { ...envFor('embedded', 'it_hostile_pull', 'it-hostile-pull'), PG_URL: urlFor(PULL_DB, PULL_ROLE, ROLE_PASSWORD) };
    const worker = await startWorker(env);
    const client = await temporalClient();
    try {
      const cfg = worker.config;
      const ch = worker.worker.clickhouse;
      await ch.client.command({ query: `DROP TABLE IF EXISTS it_hostile_pull.hostile_values` });
      const menv = new MockActivityEnvironment();
      const pool = createPgPool(cfg.postgres, 1);
      pools.push(pool);
      const acts = (copyStrategy: 'auto' | 'pull') => createActivities({ pg: pool, pgSource: cfg.postgres, copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
      const { plan } = (await menv.run(acts('auto').prepareTable, { table: 'hostile_values' })) as Awaited<ReturnType<ReturnType<typeof acts>['prepareTable']>>;
      expect(plan.strategy).toBe('push');
      await expect(menv.run(acts('pull').prepareTable, { table: 'hostile_values' })).rejects.toThrow(
        /PG2CH_COPY_STRATEGY=pull is not possible for hostile_values: the role's or database's default statement_timeout = 1s would reach the embedded engine's own PostgreSQL connection; use auto or push/,
      );
      const result = await startSync(client, readTemporalConfig(env), 'hostile_values', { once: true }, () => {});
      expect(result!.rows).toBe(3);
      expect(await chRows(ch, `SELECT toString(id) AS id, t, toString(ts) AS ts FROM it_hostile_pull.hostile_values ORDER BY id`)).toEqual([
        { id: '1', t: 'row 1', ts: '2024-01-01 01:00:00.000000' },
        { id: '2', t: 'row 2', ts: '2024-01-01 02:00:00.000000' },
        { id: '3', t: 'row 3', ts: '2024-01-01 03:00:00.000000' },
      ]);
      // The worker's PGOPTIONS reaches the engine's connection (and the check): pull again, and
      // the read of the slow row is not cut (a range of its own: the first copy's dedup token differs).
      process.env.PGOPTIONS = '-c statement_timeout=0';
      try {
        const again = (await menv.run(acts('pull').prepareTable, { table: 'hostile_values' })) as { plan: typeof plan };
        expect(again.plan.strategy).toBe('pull');
        await ch.client.command({ query: `TRUNCATE TABLE it_hostile_pull.hostile_values` });
        await menv.run(acts('pull').insertBatch, { plan: again.plan, range: { afterId: '0', toId: '3', rows: 3 }, resume: false });
        expect(await chRows(ch, `SELECT toString(count()) AS n FROM it_hostile_pull.hostile_values`)).toEqual([{ n: '3' }]);
      } finally {
        delete process.env.PGOPTIONS;
      }
    } finally {
      await worker.stop();
      await client.connection.close();
    }
  });

  it("an administrator's cancel of pg2ch's statement (57014) fails the sync at once, saying so; the next run copies", async () => {
    const database = 'it_hostile_cancel';
    const env = { ...envFor('server', database, 'it-hostile-cancel'), PG_URL: urlFor(DB, ROLE, ROLE_PASSWORD) };
    const worker = await startWorker(env);
    const client = await temporalClient();
    try {
      await worker.worker.clickhouse.client.command({ query: `DROP TABLE IF EXISTS ${database}.hostile_values` });
      await worker.worker.clickhouse.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
      const run = startSync(client, readTemporalConfig(env), 'hostile_values', { once: true }, () => {});
      run.catch(() => {});
      // Every statement reading the row with id 1 takes 1.5 s: there is time to find it and cancel it.
      let cancelled = false;
      for (let i = 0; i < 600 && !cancelled; i++) {
        const r = await admin.query<{ ok: boolean }>(
          `SELECT pg_cancel_backend(pid) AS ok FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND state = 'active' AND application_name = 'pg2ch'`,
          [ROLE, DB],
        );
        cancelled = r.rows.some((row) => row.ok);
        if (!cancelled) await new Promise((done) => setTimeout(done, 100));
      }
      expect(cancelled).toBe(true);
      // Retried (25 attempts, backoff to a minute) it would take many minutes; it fails with the first.
      await expect(run).rejects.toThrow(/PostgreSQL 57014: canceling statement due to user request; an administrator cancelled it \(pg_cancel_backend\)/);
      expect((await startSync(client, readTemporalConfig(env), 'hostile_values', { once: true }, () => {}))!.rows).toBe(3);
    } finally {
      await worker.stop();
      await client.connection.close();
    }
  });

  describe.each(['server', 'embedded'] as Target[])('a sync into the %s ClickHouse', (target) => {
    const database = `it_hostile_${target}`;
    let worker: RunningWorker;
    let client: Client;
    let ch: ClickHouseTarget;
    let env: Record<string, string>;

    beforeAll(async () => {
      env = { ...envFor(target, database, `it-hostile-${target}`), PG_URL: urlFor(DB, ROLE, ROLE_PASSWORD) };
      worker = await startWorker(env);
      ch = worker.worker.clickhouse;
      client = await temporalClient();
      await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
      await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.hostile_values` });
    });

    afterAll(async () => {
      await worker?.stop();
      await client?.connection.close();
    });

    it('copies values in their documented forms, and verify finds them equal', async () => {
      const result = await startSync(client, readTemporalConfig(env), 'hostile_values', { once: true }, () => {});
      expect(result!.rows).toBe(3);
      const got = await chRows<Record<string, string>>(
        ch,
        `SELECT toString(id) AS id, by, toString(dt) AS dt, iv, toString(ts) AS ts, toString(tstz) AS tstz, toString(d) AS d, t, toString(n) AS n, md, x
           FROM ${database}.hostile_values ORDER BY id`,
      );
      const frac = ch.caps.dateTime64 ? '.000000' : '';
      expect(got).toEqual(
        ['1', '2', '3'].map((id) => ({
          id,
          by: '\\xdeadbeef00',
          dt: '2024-03-10',
          iv: '1 year 2 mons 3 days 04:05:06.789',
          ts: `2024-03-10 02:30:00${frac}`,
          tstz: `2024-06-01 06:30:00${frac}`,
          d: '0.30000000000000004',
          t: 'café',
          n: '12345678901234567890.123456789',
          md: 'ok',
          x: 'a<b/>',
        })),
      );
      const checked = await runVerify(client, readTemporalConfig(env), 'hostile_values', { progress: 'plain' }, () => {});
      expect(checked).toMatchObject({ equal: true, rows: 3 });
    });
  });
});

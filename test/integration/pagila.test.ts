import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';
import { envFor, serverClickHouse, services, startWorker, type RunningWorker, type Target } from '../support/harness';

// A real schema as a new user brings it, shaped like the public sample
// database pagila: an enum, a domain, text[], tsvector, bytea, numeric,
// timestamptz, two link tables keyed by two columns, and a payment table
// partitioned by month and keyed by (payment_date, payment_id). pgvector is
// not packaged here: cube stands in for an extension type printed as text.
// Synced as the issue did, with `pg2ch sync --all --once --config F` and no
// cursor named, then compared with PostgreSQL row for row.
const SCHEMA = `
  DROP SCHEMA IF EXISTS pagila CASCADE;
  CREATE SCHEMA pagila;
  CREATE EXTENSION IF NOT EXISTS cube;
  CREATE TYPE pagila.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
  CREATE DOMAIN pagila.year AS integer CHECK (VALUE >= 1901 AND VALUE <= 2155);
  CREATE TABLE pagila.actor (actor_id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, last_update timestamptz NOT NULL DEFAULT now());
  CREATE TABLE pagila.film (
    film_id serial PRIMARY KEY, title text NOT NULL, description text, release_year pagila.year,
    rating pagila.mpaa_rating DEFAULT 'G', special_features text[], fulltext tsvector NOT NULL,
    replacement_cost numeric(5,2) NOT NULL, poster bytea, shape cube, last_update timestamptz NOT NULL DEFAULT now());
  CREATE TABLE pagila.film_actor (actor_id integer NOT NULL, film_id integer NOT NULL, last_update timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (actor_id, film_id));
  CREATE INDEX ON pagila.film_actor (film_id);
  CREATE TABLE pagila.film_category (film_id integer NOT NULL, category_id smallint NOT NULL, PRIMARY KEY (film_id, category_id));
  CREATE TABLE pagila.payment (payment_id serial, customer_id integer NOT NULL, amount numeric(5,2) NOT NULL, payment_date timestamptz NOT NULL,
    PRIMARY KEY (payment_date, payment_id)) PARTITION BY RANGE (payment_date);
  CREATE TABLE pagila.payment_p2022_01 PARTITION OF pagila.payment FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00');
  CREATE TABLE pagila.payment_p2022_02 PARTITION OF pagila.payment FOR VALUES FROM ('2022-02-01 00:00:00+00') TO ('2022-03-01 00:00:00+00');
  CREATE TABLE pagila.payment_p2022_03 PARTITION OF pagila.payment FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00');`;

// Hostile text: every character TabSeparated escapes, quotes, \N, emoji, right-to-left.
const HOSTILE = [`tab\there`, `new\nline`, `back\\slash \\N`, `quote ' and "`, `🎬 فيلم עברית`, `cr\rlf`, ''];

const FILL = `
  INSERT INTO pagila.actor (first_name, last_name, last_update)
    SELECT 'first ' || g, (ARRAY[${HOSTILE.map((h) => `E'${h.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/'/g, "\\'")}'`).join(', ')}])[1 + g % ${HOSTILE.length}],
           '2022-01-01 00:00:00.123456+05:30'::timestamptz + g * interval '1 hour'
      FROM generate_series(1, 200) g;
  INSERT INTO pagila.film (title, description, release_year, rating, special_features, fulltext, replacement_cost, poster, shape, last_update)
    SELECT 'FILM ' || g, (SELECT last_name FROM pagila.actor WHERE actor_id = g % 200 + 1) || ' story ' || g, 1990 + g % 30,
           (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17'])[1 + g % 5]::pagila.mpaa_rating,
           CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY['Trailers', 'it''s "Deleted" Scenes', NULL, 'a,b'] END,
           to_tsvector('english', 'The quick brown fox ' || g || ' jumps over the lazy dog''s back'),
           (g % 3000) / 100.0 + 0.99, CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') || '\\x00ff'::bytea END,
           cube(ARRAY[g, g / 3.0]), '2022-03-01 12:00:00+00'::timestamptz + g * interval '1 minute'
      FROM generate_series(1, 1000) g;
  INSERT INTO pagila.film_actor (actor_id, film_id, last_update)
    SELECT a, f, '2022-02-15 00:00:00+00' FROM generate_series(1, 200) a, generate_series(1, 1000) f WHERE (a * 7 + f) % 40 = 0;
  INSERT INTO pagila.film_category SELECT f, c FROM generate_series(1, 1000) f, generate_series(1, 16) c WHERE (f + c) % 5 = 0;
  INSERT INTO pagila.payment (customer_id, amount, payment_date)
    SELECT g % 599 + 1, (g % 1000) / 100.0, '2022-01-01 00:00:00+00'::timestamptz + (g % 89) * interval '1 day' + (g % 86400) * interval '1 second' + g * interval '1 microsecond'
      FROM generate_series(1, 6000) g;`;

const TABLES = ['pagila.actor', 'pagila.film', 'pagila.film_actor', 'pagila.film_category', 'pagila.payment'];

describe.each<Target>(['server', 'embedded'])('a pagila-like schema into the %s ClickHouse', (target) => {
  const database = `it_pagila_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let env: Record<string, string>;
  let ch: ClickHouseClient;
  let configFile: string;

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: services().pgUrl, max: 2, options: '-c TimeZone=UTC' });
    await pool.query(SCHEMA);
    await pool.query(FILL);
    await pool.query('ANALYZE pagila.payment, pagila.film_actor');
    env = envFor(target, database, `it-pagila-${target}`);
    worker = await startWorker(env);
    // The engine belongs to the worker; the server is read with a client of its own.
    ch = target === 'server' ? serverClickHouse(env) : worker.worker.clickhouse.client;
    for (const t of ['pagila_actor', 'pagila_film', 'pagila_film_actor', 'pagila_film_category', 'pagila_payment', 'sync_control']) {
      await ch.command({ query: `DROP TABLE IF EXISTS ${database}.${t}` });
    }
    configFile = join(mkdtempSync(join(tmpdir(), 'pg2ch-pagila-')), 'pg2ch.config.yaml');
    writeFileSync(configFile, ['defaults:', '  chunkRows: 700', 'tables:', ...TABLES.map((t) => `  ${t}:`), ''].join('\n'));
  });

  afterAll(async () => {
    if (target === 'server') await ch?.close();
    await worker?.stop();
    await pool?.end();
  });

  const chText = async (query: string) => (await ch.query({ query, format: 'TabSeparated' })).text();
  const chValues = async (query: string) => (await (await ch.query({ query, format: 'JSONEachRow' })).json<{ v: string }>()).map((r) => r.v);
  const pgValues = async (query: string) => (await pool.query<{ v: string }>(query)).rows.map((r) => r.v);

  async function syncAll(): Promise<string> {
    const run = runCli(['sync', '--all', '--once', '--config', configFile], env);
    const { code } = await run.exit;
    expect(code, run.stdout() + run.stderr()).toBe(0);
    return run.stdout();
  }

  /** Plain count, count FINAL and distinct row keys all equal PostgreSQL's count: no row collapsed, none doubled. */
  async function expectCounts(dest: string, source: string, key: string): Promise<void> {
    const [n] = await pgValues(`SELECT count(*)::text AS v FROM ${source}`);
    const got = (await chText(`SELECT count(), (SELECT count() FROM ${database}.${dest} FINAL), uniqExact(${key}) FROM ${database}.${dest}`)).trim();
    expect(got, dest).toBe(`${n}\t${n}\t${n}`);
  }

  it('syncs all five tables with no cursor named: every row once, link tables and partitions included', async () => {
    const out = await syncAll();
    for (const t of TABLES) expect(out).toMatch(new RegExp(`synced ${t.replace('.', '\\.')}: \\d+ rows copied`));
    await expectCounts('pagila_actor', 'pagila.actor', 'actor_id');
    await expectCounts('pagila_film', 'pagila.film', 'film_id');
    await expectCounts('pagila_film_actor', 'pagila.film_actor', '(actor_id, film_id)');
    await expectCounts('pagila_film_category', 'pagila.film_category', '(film_id, category_id)');
    await expectCounts('pagila_payment', 'pagila.payment', '(payment_date, payment_id)');
  });

  it('holds the values exactly: hostile text, enum, domain, tsvector, the extension type, bytea, numeric and UTC times', async () => {
    const pgRows = await pgValues(`
      SELECT concat_ws('|', film_id, title, coalesce(description, ''), coalesce(release_year::text, ''), coalesce(rating::text, ''), fulltext::text,
                       (replacement_cost * 100)::int, coalesce(shape::text, ''), coalesce('\\x' || encode(poster, 'hex'), ''),
                       to_char(last_update AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) AS v FROM pagila.film ORDER BY film_id`);
    const chRows = await chValues(`
      SELECT concat(toString(film_id), '|', title, '|', ifNull(description, ''), '|', ifNull(toString(release_year), ''), '|', ifNull(rating, ''), '|',
                    fulltext, '|', toString(toInt64(replacement_cost * 100)), '|', ifNull(shape, ''), '|', ifNull(poster, ''), '|', substring(toString(last_update), 1, 19)) AS v
        FROM ${database}.pagila_film FINAL ORDER BY film_id`);
    expect(chRows).toEqual(pgRows);
    // text[]: an array where the server holds quoted elements exactly, else PostgreSQL's array text (README type table); NULL as [].
    const [arrayType] = await chValues(`SELECT type AS v FROM system.columns WHERE database = '${database}' AND table = 'pagila_film' AND name = 'special_features'`);
    const features = (await (await ch.query({ query: `SELECT special_features AS v FROM ${database}.pagila_film FINAL ORDER BY film_id`, format: 'JSONEachRow' })).json<{ v: unknown }>()).map((r) => r.v);
    if (arrayType!.startsWith('Array')) {
      expect(features).toEqual((await pool.query(`SELECT coalesce(to_json(special_features), '[]') AS v FROM pagila.film ORDER BY film_id`)).rows.map((r) => r.v));
    } else {
      expect(features).toEqual(await pgValues(`SELECT special_features::text AS v FROM pagila.film ORDER BY film_id`));
    }
    const names = await pgValues(`SELECT concat_ws('|', actor_id, first_name, last_name, to_char(last_update AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) AS v FROM pagila.actor ORDER BY actor_id`);
    const chNames = await chValues(`SELECT concat(toString(actor_id), '|', first_name, '|', last_name, '|', substring(toString(last_update), 1, 19)) AS v FROM ${database}.pagila_actor FINAL ORDER BY actor_id`);
    expect(chNames).toEqual(names);
    expect(new Set(names.map((n) => n.split('|')[2])).size).toBe(HOSTILE.length);
  });

  it('pg2ch verify finds each integer-cursor table equal, and a changed row in a link table', async () => {
    for (const t of ['pagila.actor', 'pagila.film', 'pagila.film_actor', 'pagila.film_category']) {
      const run = runCli(['verify', t, '--config', configFile], env);
      const { code } = await run.exit;
      expect(run.stdout() + run.stderr(), t).toMatch(/are equal/);
      expect(code, t).toBe(0);
    }
    await pool.query(`UPDATE pagila.film_actor SET last_update = '2023-01-01 00:00:00+00' WHERE (actor_id, film_id) = (SELECT actor_id, film_id FROM pagila.film_actor ORDER BY 1, 2 LIMIT 1 OFFSET 100)`);
    const run = runCli(['verify', 'pagila.film_actor', '--config', configFile], env);
    expect((await run.exit).code).toBe(1);
    expect(run.stdout()).toMatch(/1 ranges differ/);
  });

  it('a new month partition and new rows in every table arrive with the next run, the partitioned payments in full', async () => {
    await pool.query(`
      CREATE TABLE pagila.payment_p2022_04 PARTITION OF pagila.payment FOR VALUES FROM ('2022-04-01 00:00:00+00') TO ('2022-05-01 00:00:00+00');
      INSERT INTO pagila.payment (customer_id, amount, payment_date) SELECT g, 9.99, '2022-04-02 00:00:00+00'::timestamptz + g * interval '1 minute' FROM generate_series(1, 300) g;
      INSERT INTO pagila.actor (first_name, last_name) SELECT 'late ' || g, E'new\\tone' FROM generate_series(1, 5) g;
      INSERT INTO pagila.film_actor (actor_id, film_id) SELECT 200, f FROM generate_series(1, 1000) f WHERE f % 97 = 1 ON CONFLICT DO NOTHING;`);
    await syncAll();
    await expectCounts('pagila_payment', 'pagila.payment', '(payment_date, payment_id)');
    await expectCounts('pagila_actor', 'pagila.actor', 'actor_id');
    const payments = await pgValues(`SELECT concat_ws(':', payment_id, customer_id, (amount * 100)::int, to_char(payment_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) AS v FROM pagila.payment ORDER BY payment_id`);
    const chPayments = await chValues(`SELECT concat(toString(payment_id), ':', toString(customer_id), ':', toString(toInt64(amount * 100)), ':', substring(toString(payment_date), 1, 19)) AS v
                                         FROM ${database}.pagila_payment FINAL ORDER BY payment_id`);
    expect(chPayments).toEqual(payments);
  });
});


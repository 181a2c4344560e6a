import type { Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseTarget } from '../../activities';
import { readStatusReport } from '../../client/commands/status';
import { startSync } from '../../client/commands/sync';
import { readTemporalConfig } from '../../core/config';
import { envFor, pgPool, services, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// Updated mode with no setting but the mode, as the README shows it, under
// the writers every application has: transactions stamp updated_at = now()
// (their start time) and commit up to seconds later, some roll back, while a
// sync runs every two seconds. A transaction that commits after a run passed
// its start time must be copied by a later run: in the end FINAL equals
// PostgreSQL row for row.
const ROWS = 5_000;
const WRITERS = 6;
const WRITE_MS = 16_000;
const SYNC_EVERY_MS = 2_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each<Target>(['server', 'embedded'])('updated mode under concurrent writers on the %s ClickHouse', (target) => {
  const database = `it_conc_${target}`;
  const table = `conc_accounts_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    env = envFor(target, database, `it-conc-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, balance bigint, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
    await pool.query(`INSERT INTO ${table} (balance, note) SELECT g * 10, 'row ' || g FROM generate_series(1, ${ROWS}) g`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  // The config file's `tables: { <table>: { mode: updated } }`, through the workflow as `pg2ch sync <table> --once` runs it.
  const sync = () => startSync(client, readTemporalConfig(env), table, { once: true, settings: { mode: 'updated' } }, () => {});

  /** One session: transactions open 0-0.8 s (one in ten 3 s), one in ten rolled back, until `until`. */
  /**
   * Per row, the latest now() of a committed transaction that updated it
   * (microseconds). A transaction can wait for a row lock held by one that
   * started after it, and commit last with the older now(): PostgreSQL's
   * row then carries an older updated_at than a version ClickHouse already
   * holds, and ReplacingMergeTree(updated_at) keeps the larger. Those rows
   * (an inversion, not a missed commit; see README Guarantees) are the only
   * difference allowed below, and they are counted.
   */
  const newestStamp = new Map<string, bigint>();

  async function writer(seed: number, until: number): Promise<{ committed: number; rolledBack: number }> {
    const session = new pg.Client({ connectionString: services().pgUrl });
    await session.connect();
    let committed = 0;
    let rolledBack = 0;
    try {
      for (let i = 0; Date.now() < until; i++) {
        const open = Math.random() < 0.1 ? 3_000 : Math.random() * 800;
        const rollback = Math.random() < 0.1;
        await session.query('BEGIN');
        try {
          const stamp = BigInt((await session.query<{ us: string }>(`SELECT round(extract(epoch FROM now()) * 1000000)::int8::text AS us`)).rows[0]!.us);
          // now() is fixed here, at the transaction's start; the rows are written and committed later.
          await sleep(open / 2);
          const ids = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => 1 + Math.floor(Math.random() * ROWS)).sort((a, b) => a - b);
          await session.query(`UPDATE ${table} SET balance = balance + 1, updated_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
          if (i % 7 === seed % 7) await session.query(`INSERT INTO ${table} (balance, note) VALUES ($1, 'inserted by writer ${seed}')`, [i]);
          await sleep(open / 2);
          await session.query(rollback ? 'ROLLBACK' : 'COMMIT');
          if (rollback) rolledBack++;
          else {
            committed++;
            for (const id of ids) if ((newestStamp.get(String(id)) ?? 0n) < stamp) newestStamp.set(String(id), stamp);
          }
        } catch {
          // Two writers locking the same rows can deadlock: that transaction is lost, as in any application.
          await session.query('ROLLBACK').catch(() => undefined);
          rolledBack++;
        }
      }
    } finally {
      await session.end();
    }
    return { committed, rolledBack };
  }

  it('loses no update: FINAL equals PostgreSQL row for row, and status shows the lag in rows and seconds', async () => {
    expect((await sync())!.rows).toBe(ROWS);

    const until = Date.now() + WRITE_MS;
    const writers = Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i, until)));
    let runs = 0;
    while (Date.now() < until) {
      const started = Date.now();
      await sync();
      runs++;
      await sleep(Math.max(0, SYNC_EVERY_MS - (Date.now() - started)));
    }
    const written = await writers;
    expect(written.reduce((n, w) => n + w.committed, 0)).toBeGreaterThan(50);
    expect(runs).toBeGreaterThanOrEqual(3);

    // Status: rows changed past the watermark, and how long the oldest of them waits.
    await pool.query(`UPDATE ${table} SET balance = balance + 1, updated_at = now() WHERE id <= 10`);
    await sleep(1_100);
    const [before] = await readStatusReport(client, readTemporalConfig(env), table);
    expect(before!.error).toBeUndefined();
    expect(before!.lagRows).toBeGreaterThanOrEqual(10);
    expect(before!.lagSeconds).toBeGreaterThanOrEqual(1);

    await sync();
    await sync();
    const [after] = await readStatusReport(client, readTemporalConfig(env), table);
    expect(after!.lagRows).toBe(0);
    expect(after!.lagSeconds).toBe(0);

    // Every column compared; the old server keeps whole seconds of a timestamp.
    const format = ch.caps.dateTime64 ? 'YYYY-MM-DD HH24:MI:SS.US' : 'YYYY-MM-DD HH24:MI:SS';
    const read = await pool.query<{ id: string; balance: string; note: string; updated_at: string; us: string }>(
      `SELECT id::text AS id, balance::text AS balance, note, to_char(updated_at AT TIME ZONE 'UTC', '${format}') AS updated_at,
              round(extract(epoch FROM updated_at) * 1000000)::int8::text AS us FROM ${table} ORDER BY id`,
    );
    // The old server keeps whole seconds: versions within one second tie, and the later copy (the newer row) wins.
    const unit = ch.caps.dateTime64 ? 1n : 1_000_000n;
    const inverted = new Set(read.rows.filter((r) => (newestStamp.get(r.id) ?? 0n) / unit > BigInt(r.us) / unit).map((r) => r.id));
    const source = { rows: read.rows.map(({ us: _us, ...r }) => r) };
    const copied = await (
      await ch.client.query({
        query: `SELECT toString(id) AS id, toString(balance) AS balance, note, toString(updated_at) AS updated_at FROM ${database}.${table} FINAL ORDER BY id`,
        format: 'JSONEachRow',
      })
    ).json<{ id: string; balance: string; note: string; updated_at: string }>();
    const byId = new Map(copied.map((r) => [r.id, r]));
    const differing = source.rows.filter((r) => !inverted.has(r.id) && JSON.stringify(byId.get(r.id)) !== JSON.stringify(r));
    // Rare (a lock wait between two writers of one row); many would hide lost updates instead.
    expect(inverted.size).toBeLessThan(20);
    for (const id of inverted) expect(byId.has(id), `row ${id}`).toBe(true);
    if (inverted.size > 0) process.stderr.write(`${target}: ${inverted.size} rows whose last commit carries an older updated_at than an earlier one (left out of the comparison)\n`);
    expect({ differing: differing.length, of: source.rows.length, first: differing.slice(0, 3).map((r) => ({ pg: r, ch: byId.get(r.id) ?? null })) }).toEqual({
      differing: 0,
      of: source.rows.length,
      first: [],
    });
    expect(copied.length).toBe(source.rows.length);
  });

  it('an update stamped by a transaction open across a run, committed after the run passed its time, is copied by the next run', async () => {
    const late = await pool.connect();
    try {
      await late.query('BEGIN');
      const [{ start }] = (await late.query<{ start: string }>(`SELECT now()::text AS start`)).rows as [{ start: string }];
      await sleep(50);
      await pool.query(`UPDATE ${table} SET note = 'passes the late one', updated_at = now() WHERE id = 2`);
      await sync();
      const [{ wm }] = (await pool.query<{ wm: boolean }>(`SELECT max(updated_at) > $1::timestamptz AS wm FROM ${table}`, [start])).rows as [{ wm: boolean }];
      expect(wm).toBe(true);
      await late.query(`UPDATE ${table} SET note = 'committed late', updated_at = now() WHERE id = 1`);
      await late.query('COMMIT');
    } finally {
      late.release();
    }
    await sync();
    const [row] = await (await ch.client.query({ query: `SELECT note FROM ${database}.${table} FINAL WHERE id = 1`, format: 'JSONEachRow' })).json<{ note: string }>();
    expect(row?.note).toBe('committed late');
  });
});

// What the horizon cannot bound is said, not silent: a role that cannot see
// other roles' transactions, and a cursor stamped past PostgreSQL's clock.
describe('updated mode warnings in status', () => {
  const database = 'it_conc_warn';
  const table = 'conc_warn';
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
    await pool.query(`INSERT INTO ${table} (note) SELECT 'n' || g FROM generate_series(1, 100) g`);
    await pool.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'conc_reader') THEN CREATE ROLE conc_reader LOGIN PASSWORD 'reader'; END IF; END $$`);
    await pool.query(`GRANT SELECT ON ${table} TO conc_reader`);
    const url = new URL(services().pgUrl);
    url.username = 'conc_reader';
    url.password = 'reader';
    env = { ...envFor('server', database, 'it-conc-warn'), PG_URL: url.toString() };
    worker = await startWorker(env);
    client = await temporalClient();
    await worker.worker.clickhouse.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  const status = async () => (await readStatusReport(client, readTemporalConfig(env), table))[0]!;

  it('names sessions whose transaction start is hidden, and rows stamped ahead of the clock', async () => {
    expect((await startSync(client, readTemporalConfig(env), table, { once: true, settings: { mode: 'updated' } }, () => {}))!.rows).toBe(100);
    expect((await status()).warning).toBeUndefined();

    const open = await pool.connect();
    try {
      await open.query('BEGIN');
      await open.query('SELECT 1');
      expect((await status()).warning).toMatch(/1 session of other roles hide their transactions' start from pg2ch.*GRANT pg_read_all_stats TO <role>/);
    } finally {
      await open.query('ROLLBACK');
      open.release();
    }

    await pool.query(`UPDATE ${table} SET updated_at = now() + interval '1 hour' WHERE id = 5`);
    expect((await status()).warning).toMatch(/rows of conc_warn have updated_at up to 3\d{3} s past PostgreSQL's clock/);
  });
});

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

  /**
   * One session: transactions open 0-0.8 s (one in ten 3 s), one in ten
   * rolled back, until `until`. A transaction can wait for a row lock held by
   * one that started after it and commit last with the older now(): FINAL
   * must still hold PostgreSQL's row, since versions are ordered by copy.
   */
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
          await session.query('SELECT now()');
          // now() is fixed here, at the transaction's start; the rows are written and committed later.
          await sleep(open / 2);
          const ids = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => 1 + Math.floor(Math.random() * ROWS)).sort((a, b) => a - b);
          await session.query(`UPDATE ${table} SET balance = balance + 1, updated_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
          if (i % 7 === seed % 7) await session.query(`INSERT INTO ${table} (balance, note) VALUES ($1, 'inserted by writer ${seed}')`, [i]);
          await sleep(open / 2);
          await session.query(rollback ? 'ROLLBACK' : 'COMMIT');
          if (rollback) rolledBack++;
          else committed++;
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
    const source = await pool.query<{ id: string; balance: string; note: string; updated_at: string }>(
      `SELECT id::text AS id, balance::text AS balance, note, to_char(updated_at AT TIME ZONE 'UTC', '${format}') AS updated_at FROM ${table} ORDER BY id`,
    );
    const copied = await (
      await ch.client.query({
        query: `SELECT toString(id) AS id, toString(balance) AS balance, note, toString(updated_at) AS updated_at FROM ${database}.${table} FINAL ORDER BY id`,
        format: 'JSONEachRow',
      })
    ).json<{ id: string; balance: string; note: string; updated_at: string }>();
    const byId = new Map(copied.map((r) => [r.id, r]));
    // No row left out: one whose last commit carries an older updated_at than a version copied before must hold the last commit too.
    const differing = source.rows.filter((r) => JSON.stringify(byId.get(r.id)) !== JSON.stringify(r));
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

// The inversion, forced: A starts first (older now()), B updates row 1 and
// holds its lock, A's update of row 1 waits, B commits, a sync copies B's
// version, A commits, a sync runs. PostgreSQL holds A's values under the
// OLDER updated_at; FINAL must hold them too. A destination made before the
// version column (ReplacingMergeTree(updated_at)) keeps B's, with a warning.
describe.each<Target>(['server', 'embedded'])('a transaction that commits last with an older now() on the %s ClickHouse', (target) => {
  const database = `it_inv_${target}`;
  const fresh = `inv_new_${target}`;
  const old = `inv_old_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    env = envFor(target, database, `it-inv-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
    for (const t of [fresh, old]) {
      await pool.query(`DROP TABLE IF EXISTS ${t}`);
      await pool.query(`CREATE TABLE ${t} (id bigserial PRIMARY KEY, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
      await pool.query(`INSERT INTO ${t} (note) SELECT 'row ' || g FROM generate_series(1, 20) g`);
      await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${t}` });
    }
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  const sync = (t: string) => startSync(client, readTemporalConfig(env), t, { once: true, settings: { mode: 'updated' } }, () => {});
  const noteOf = async (t: string, id: number) =>
    (await (await ch.client.query({ query: `SELECT note FROM ${database}.${t} FINAL WHERE id = ${id}`, format: 'JSONEachRow' })).json<{ note: string }>())[0]?.note;

  /** The interleaving above on table t; returns PostgreSQL's row 1 afterwards. */
  async function invert(t: string): Promise<{ note: string; older: boolean }> {
    let stampB = '';
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await a.query('BEGIN');
      // A stamps now() on another row first: its transaction start is fixed, older than B's.
      await a.query(`UPDATE ${t} SET note = 'A touched', updated_at = now() WHERE id = 2`);
      // Past a whole second, so the old server's DateTime (whole seconds) orders A before B too.
      await sleep(1_100);
      await b.query('BEGIN');
      stampB = (await b.query<{ at: string }>(`UPDATE ${t} SET note = 'B', updated_at = now() WHERE id = 1 RETURNING updated_at::text AS at`)).rows[0]!.at;
      const aPid = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const blocked = a.query(`UPDATE ${t} SET note = 'A', updated_at = now() WHERE id = 1`);
      for (let i = 0; ; i++) {
        const w = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [aPid]);
        if (w.rows[0]!.n === '1') break;
        if (i > 200) throw new Error('session A never waited on the row lock');
        await sleep(25);
      }
      await b.query('COMMIT');
      await blocked;
      await sync(t);
      expect(await noteOf(t, 1)).toBe('B');
      await a.query('COMMIT');
    } finally {
      a.release();
      b.release();
    }
    await sync(t);
    return (await pool.query<{ note: string; older: boolean }>(`SELECT note, updated_at < $1::timestamptz AS older FROM ${t} WHERE id = 1`, [stampB])).rows[0]!;
  }

  it('FINAL holds the last commit, A, whose updated_at is older than the B it replaced', async () => {
    expect((await sync(fresh))!.rows).toBe(20);
    // PostgreSQL's row: A's, stamped before the B it replaced.
    expect(await invert(fresh)).toStrictEqual({ note: 'A', older: true });
    expect(await noteOf(fresh, 1)).toBe('A');
    expect(await noteOf(fresh, 2)).toBe('A touched');
    const engine = await (await ch.client.query({ query: `SELECT engine_full FROM system.tables WHERE database = '${database}' AND name = '${fresh}'`, format: 'JSONEachRow' })).json<{ engine_full: string }>();
    expect(engine[0]!.engine_full).toMatch(/^ReplacingMergeTree\(_version/);
    const [status] = await readStatusReport(client, readTemporalConfig(env), fresh);
    expect(status!.warning).toBeUndefined();
  });

  it('a destination made with ReplacingMergeTree(updated_at) keeps working as before, keeps B, and status says why and what to do', async () => {
    // The old layout, column for column as pg2ch made it, without _version.
    const cols = await (await ch.client.query({ query: `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${fresh}' AND name != '_version'`, format: 'JSONEachRow' })).json<{ name: string; type: string }>();
    await ch.client.command({ query: `CREATE TABLE ${database}.${old} (${cols.map((c) => `${c.name} ${c.type}`).join(', ')}) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (id)` });
    expect((await sync(old))!.rows).toBe(20);
    const [status] = await readStatusReport(client, readTemporalConfig(env), old);
    expect(status!.warning).toMatch(new RegExp(`^${database}\\.${old} \\(table ${old}\\) was created before .* ReplacingMergeTree\\(updated_at\\), .* drop ${database}\\.${old} in ClickHouse and the next sync rebuilds it`));
    expect(await invert(old)).toStrictEqual({ note: 'A', older: true });
    // The stale version: what the version column fixes.
    expect(await noteOf(old, 1)).toBe('B');
  });
});

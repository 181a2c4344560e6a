import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { chunkAfter } from '../../activities/postgres';
import { startSync } from '../../client/commands/sync';
import { MAX_CHUNK_ROWS, readTemporalConfig, secretsOf } from '../../core/config';
import type { TableSettings } from '../../core/table-settings';
import type { ChunkRange } from '../../core/types';
import { verifyTable } from '../../workflows/verify';
import { createPgPool } from '../../worker/connections';
import { envFor, pgPool, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// Tables whose cursor is not the row's key: link tables keyed by two
// columns, a cursor many rows share, tables without a key, a partitioned
// table keyed by (time, id). A ReplacingMergeTree keeps one row per ORDER BY
// key, so its ORDER BY must hold the whole row key, whatever the cursor.

/** Rows of the cursor range (afterId, toId] in PostgreSQL. */
async function rowsIn(pool: pg.Pool, table: string, cursor: string, r: ChunkRange): Promise<number> {
  const lower = r.afterId === null ? 'true' : `${cursor} > ${r.afterId}`;
  const got = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${lower} AND ${cursor} <= ${r.toId}`);
  return Number(got.rows[0]!.n);
}

describe('chunks of a cursor many rows share (PostgreSQL)', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = pgPool();
  });
  afterAll(async () => {
    await pool?.end();
  });

  it('never split a value, hold at most chunkRows rows, and a value with more rows is a chunk of its own', async () => {
    await pool.query('DROP TABLE IF EXISTS shared_chunks');
    await pool.query('CREATE TABLE shared_chunks (id bigserial PRIMARY KEY, grp int NOT NULL)');
    await pool.query('CREATE INDEX ON shared_chunks (grp)');
    // Runs of 70 equal values, and one value (21) with 500 rows.
    await pool.query(`INSERT INTO shared_chunks (grp) SELECT v FROM generate_series(1, 30) v, generate_series(1, 70) r WHERE v <> 21`);
    await pool.query(`INSERT INTO shared_chunks (grp) SELECT 21 FROM generate_series(1, 500)`);
    const table = { schema: 'public', name: 'shared_chunks' };
    const chunks: ChunkRange[] = [];
    let after: string | null = null;
    for (;;) {
      const next: Awaited<ReturnType<typeof chunkAfter>> = await chunkAfter(pool, table, 'grp', after, 100, undefined, true);
      if (!next) break;
      chunks.push(next.range);
      after = next.range.toId;
    }
    for (const c of chunks) expect(await rowsIn(pool, 'shared_chunks', 'grp', c)).toBe(c.rows);
    expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(29 * 70 + 500);
    expect(chunks.filter((c) => c.rows > 100)).toEqual([{ afterId: '20', toId: '21', rows: 500 }]);
    // Consecutive: each chunk starts where the previous ended, so no value is skipped.
    chunks.forEach((c, i) => expect(c.afterId).toBe(i === 0 ? null : chunks[i - 1]!.toId));
  });

  it('a value with more rows than one insert may hold is a clear error', async () => {
    await pool.query('DROP TABLE IF EXISTS one_value');
    await pool.query('CREATE TABLE one_value (grp int NOT NULL)');
    await pool.query(`INSERT INTO one_value SELECT 7 FROM generate_series(1, ${MAX_CHUNK_ROWS + 1})`);
    await expect(chunkAfter(pool, { schema: 'public', name: 'one_value' }, 'grp', null, 1000, undefined, true)).rejects.toThrow(
      `table one_value: more than ${MAX_CHUNK_ROWS} rows share the cursor value 7 of "grp"`,
    );
    await pool.query('DROP TABLE one_value');
  }, 120_000);
});

describe.each(['embedded', 'server'] as Target[])('row keys: %s', (target) => {
  const database = `it_keys_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    env = envFor(target, database, `it-keys-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  const sync = (table: string, settings: TableSettings = {}, chunkRows = 1000) =>
    startSync(client, readTemporalConfig(env), table, { once: true, chunkRows, settings }, () => {});

  const value = async (query: string) => (await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n;

  async function fresh(table: string, ddl: string[]): Promise<void> {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    for (const q of ddl) await pool.query(q);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
  }

  /** Plain and FINAL counts, before and after merging everything: all equal PostgreSQL's when no row collapsed. */
  async function expectAllRows(table: string, destination = table): Promise<void> {
    const want = (await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]!.n;
    const t = `${database}.${destination}`;
    expect(await value(`SELECT toString(count()) AS n FROM ${t} FINAL`)).toBe(want);
    expect(await value(`SELECT toString(count()) AS n FROM ${t}`)).toBe(want);
    await ch.client.command({ query: `OPTIMIZE TABLE ${t} FINAL` });
    expect(await value(`SELECT toString(count()) AS n FROM ${t}`)).toBe(want);
  }

  const directActivities = () => {
    const cfg = worker.config;
    return createActivities({ pg: createPgPool(cfg.postgres, 1), pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
  };

  /** prepareTable in a mock activity context, with the warnings it logs. */
  async function prepare(table: string, settings: TableSettings = {}) {
    const warnings: string[] = [];
    const noop = () => {};
    const logger = { log: noop, trace: noop, debug: noop, info: noop, error: noop, warn: (m: string) => warnings.push(m) };
    const acts = directActivities();
    const menv = new MockActivityEnvironment(undefined, { logger });
    const prepared = (await menv.run(acts.prepareTable, { table, settings })) as Awaited<ReturnType<typeof acts.prepareTable>>;
    return { prepared, warnings, acts, menv };
  }

  const verify = (table: string, settings: TableSettings, repair = false) =>
    client.workflow.execute(verifyTable, {
      workflowId: `verify-${database}-${table}-${Date.now()}`,
      taskQueue: readTemporalConfig(env).taskQueue,
      args: [{ table, settings, repair, bucketRows: 500 }],
    });

  /** ALTER TABLE ... DELETE, waited for (old servers run mutations in the background). */
  async function deleteInClickHouse(table: string, where: string): Promise<void> {
    await ch.client.command({ query: `ALTER TABLE ${database}.${table} DELETE WHERE ${where}` });
    for (;;) {
      const open = await value(`SELECT toString(count()) AS n FROM system.mutations WHERE database = '${database}' AND table = '${table}' AND is_done = 0`);
      if (open === '0') return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** A second copy of a table under other settings starts from nothing: its progress is not the first copy's. */
  async function forgetSync(table: string, destination: string): Promise<void> {
    await deleteInClickHouse('sync_control', `table_name = '${table}'`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${destination}` });
  }

  it('link(a, b) keyed by both, cursor a: every row kept (ORDER BY (a, b))', async () => {
    await fresh('link', ['CREATE TABLE link (a int, b int, PRIMARY KEY (a, b))', 'INSERT INTO link VALUES (1, 1), (1, 2), (2, 1)']);
    expect((await sync('link', { cursor: 'a' }))!.rows).toBe(3);
    await expectAllRows('link');
  });

  it('film_actor (actor_id, film_id): cursor film_id, or its default, keeps every row; verify and repair find rows by the whole value', async () => {
    await fresh('film_actor', [
      `CREATE TABLE film_actor (actor_id int NOT NULL, film_id int NOT NULL, last_update timestamptz NOT NULL DEFAULT '2022-02-15 10:05:03+00', PRIMARY KEY (actor_id, film_id))`,
      'CREATE INDEX idx_fk_film_id ON film_actor (film_id)',
      // About 5,000 pairs, ~25 actors per film: film_id repeats across every chunk boundary.
      'INSERT INTO film_actor (actor_id, film_id) SELECT a, f FROM generate_series(1, 200) a, generate_series(1, 1000) f WHERE (a * 31 + f * 17) % 40 = 0',
    ]);
    const settings: TableSettings = { cursor: 'film_id' };
    const { prepared } = await prepare('film_actor', settings);
    expect(prepared.plan.layout.orderBy).toEqual(['film_id', 'actor_id']);
    expect((await sync('film_actor', settings, 700))!.rows).toBe(5000);
    await expectAllRows('film_actor');
    expect(await verify('film_actor', settings)).toMatchObject({ equal: true, rows: 5000 });

    // Rows missing beside rows of the same film_id: repair copies exactly those.
    await deleteInClickHouse('film_actor', 'film_id = 500 AND actor_id > 100');
    const lost = Number((await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM film_actor WHERE film_id = 500 AND actor_id > 100')).rows[0]!.n);
    expect(lost).toBeGreaterThan(0);
    expect((await verify('film_actor', settings)).equal).toBe(false);
    expect(await verify('film_actor', settings, true)).toMatchObject({ equal: true, repaired: lost });
    await expectAllRows('film_actor');

    // The default cursor: the key column leading the primary key's index.
    const dflt: TableSettings = { destination: 'film_actor_default' };
    await forgetSync('film_actor', 'film_actor_default');
    expect((await prepare('film_actor', dflt)).prepared.plan.cursor).toBe('actor_id');
    expect((await sync('film_actor', dflt, 700))!.rows).toBe(5000);
    await expectAllRows('film_actor', 'film_actor_default');
  });

  it('many rows share each cursor value across chunk boundaries: each row copied once; a resumed chunk already present is not rewritten', async () => {
    await fresh('tagged', [
      'CREATE TABLE tagged (id bigserial PRIMARY KEY, grp int NOT NULL, v text NOT NULL)',
      'CREATE INDEX ON tagged (grp)',
      `INSERT INTO tagged (grp, v) SELECT g / 70, 'v' || g FROM generate_series(1, 2000) g`,
      `INSERT INTO tagged (grp, v) SELECT 1000, 'big' || g FROM generate_series(1, 350) g`,
    ]);
    const settings: TableSettings = { cursor: 'grp' };
    const result = await sync('tagged', settings, 100);
    expect(result!.rows).toBe(2350);
    // A chunk per value: two runs of 70 would pass 100 rows; the 350 rows of 1000 are one chunk.
    expect(result!.chunks).toBe(30);
    await expectAllRows('tagged');
    expect(await value(`SELECT toString(uniqExact(id)) AS n FROM ${database}.tagged`)).toBe('2350');

    // A resumed chunk whose rows are all there is recognised as present.
    const { prepared, acts, menv } = await prepare('tagged', settings);
    const range = { afterId: '2', toId: '4', rows: 140 };
    const again = (await menv.run(acts.insertBatch, { plan: prepared.plan, range, resume: true })) as Awaited<ReturnType<typeof acts.insertBatch>>;
    expect(again).toMatchObject({ rows: 140, skipped: true });
    // Part of a value gone: the value is brought back whole, once.
    await deleteInClickHouse('tagged', 'grp = 3 AND id % 2 = 0');
    const mended = (await menv.run(acts.insertBatch, { plan: prepared.plan, range, resume: true })) as Awaited<ReturnType<typeof acts.insertBatch>>;
    expect(mended.skipped).toBe(false);
    expect(await value(`SELECT toString(count()) AS n FROM ${database}.tagged WHERE grp = 3`)).toBe('70');
    await expectAllRows('tagged');
  });

  it('a table without a key is refused in a ReplacingMergeTree, with the fix; MergeTree appends it', async () => {
    await fresh('keyless', ['CREATE TABLE keyless (id bigint NOT NULL, v text)', `INSERT INTO keyless SELECT g % 10, 'x' FROM generate_series(1, 50) g`]);
    await expect(sync('keyless')).rejects.toThrow(
      'table keyless has no primary key or unique index (on NOT NULL columns), and ReplacingMergeTree keeps one row per ORDER BY key, so rows sharing one would be lost; add a primary key in PostgreSQL, or set engine: MergeTree for keyless in the config file',
    );
    expect((await sync('keyless', { engine: 'MergeTree' }))!.rows).toBe(50);
    expect(await value(`SELECT toString(count()) AS n FROM ${database}.keyless`)).toBe('50');
  });

  it('a partitioned table keyed by (payment_date, payment_id): a usable default cursor, and a warning for a cursor no index leads', async () => {
    await fresh('payment', [
      `CREATE TABLE payment (payment_id serial NOT NULL, customer_id int NOT NULL, amount numeric(5,2) NOT NULL, payment_date timestamptz NOT NULL,
         PRIMARY KEY (payment_date, payment_id)) PARTITION BY RANGE (payment_date)`,
      `CREATE TABLE payment_p2022_01 PARTITION OF payment FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00')`,
      `CREATE TABLE payment_p2022_02 PARTITION OF payment FOR VALUES FROM ('2022-02-01 00:00:00+00') TO ('2022-03-01 00:00:00+00')`,
      `CREATE TABLE payment_p2022_03 PARTITION OF payment FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00')`,
      'CREATE INDEX ON payment (customer_id)',
      // Three rows per second: chunks end inside a time.
      `INSERT INTO payment (customer_id, amount, payment_date)
         SELECT g % 599 + 1, (g % 1000) / 100.0, '2022-01-01 00:00:00+00'::timestamptz + (g / 3) * interval '2 hours' FROM generate_series(1, 3000) g`,
    ]);
    const dflt = await prepare('payment');
    expect(dflt.prepared.plan.cursor).toBe('payment_date');
    expect(dflt.prepared.plan.keyset).toMatchObject({ time: 'payment_date', tiebreak: 'payment_id' });
    expect(dflt.warnings).toEqual([]);
    expect((await sync('payment', {}, 250))!.rows).toBe(3000);
    await expectAllRows('payment');

    const byId: TableSettings = { cursor: 'payment_id', destination: 'payment_by_id' };
    await forgetSync('payment', 'payment_by_id');
    const named = await prepare('payment', byId);
    expect(named.warnings).toEqual([
      'table payment: no index starts with the cursor "payment_id" (on every partition), so every chunk scans the whole table; create one (CREATE INDEX ON ... ("payment_id")) or choose an indexed cursor in the config file',
    ]);
    expect(named.prepared.plan.layout.orderBy).toEqual(['payment_id', 'payment_date']);
    expect((await sync('payment', byId, 1000))!.rows).toBe(3000);
    await expectAllRows('payment', 'payment_by_id');
  });
});

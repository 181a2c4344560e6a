import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseTarget } from '../../activities';
import { startBackfill } from '../../client/commands/backfill';
import { startSync } from '../../client/commands/sync';
import { formatVerify, runVerify } from '../../client/commands/verify';
import { readTemporalConfig } from '../../core/config';
import type { TableSettings } from '../../core/table-settings';
import { envFor, pgPool, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// Verify by row key: tables in updated mode and tables with a timestamp
// cursor are compared key by key against ClickHouse's FINAL view, changes made
// by hand behind the watermark are found by key, and --repair makes FINAL
// equal to PostgreSQL even where the source row carries an older version.
describe.each<Target>(['server', 'embedded'])('verify by key on the %s ClickHouse', (target) => {
  const database = `it_kv_${target}`;
  const t = (name: string) => `kv_${name}_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    env = envFor(target, database, `it-kv-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  const temporal = () => readTemporalConfig(env);
  const sync = (table: string, settings: TableSettings) => startSync(client, temporal(), table, { once: true, chunkRows: 200, settings }, () => {});
  const verify = (table: string, settings: TableSettings, repair = false) => runVerify(client, temporal(), table, { progress: 'plain', settings, repair }, () => {});
  const chRows = async (query: string) => (await (await ch.client.query({ query, format: 'JSONEachRow' })).json<Record<string, unknown>>()).map((r) => JSON.stringify(r));
  const pgRows = async (query: string) => (await pool.query(query)).rows.map((r) => JSON.stringify(r));

  async function freshTable(table: string, ddl: string, rows: string): Promise<void> {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} ${ddl}`);
    await pool.query(`INSERT INTO ${table} ${rows}`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
  }

  it('updated mode with soft deletes: stale, soft-deleted, missing and hard-deleted rows by key, repaired into FINAL', async () => {
    const table = t('accounts');
    const settings: TableSettings = { mode: 'updated', softDelete: 'deleted' };
    await freshTable(
      table,
      `(id bigint PRIMARY KEY, balance bigint NOT NULL, note text, updated_at timestamptz NOT NULL, deleted boolean NOT NULL DEFAULT false)`,
      `SELECT g, g * 10, 'n' || g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second', false FROM generate_series(1, 300) g`,
    );
    expect((await sync(table, settings))!.rows).toBe(300);
    const clean = await verify(table, settings);
    expect(clean.equal).toBe(true);
    expect(clean.byKey).toMatchObject({ rows: 300, key: ['id'], final: true, report: { missing: 0, extra: 0, stale: 0 } });

    // By hand, behind the watermark: versions older than ClickHouse's.
    await pool.query(`UPDATE ${table} SET balance = 99, updated_at = '2000-01-01' WHERE id = 7`);
    await pool.query(`UPDATE ${table} SET deleted = true, updated_at = '2000-01-01' WHERE id = 8`);
    await pool.query(`INSERT INTO ${table} VALUES (1000, 5, 'late', '2000-01-01', false)`);
    await pool.query(`DELETE FROM ${table} WHERE id = 9`);
    // A change after the watermark is the next sync's, not a difference.
    await pool.query(`UPDATE ${table} SET balance = 1, updated_at = '2030-01-01' WHERE id = 5`);

    const found = await verify(table, settings);
    expect(found.equal).toBe(false);
    expect(found.byKey).toMatchObject({ pending: 1, report: { stale: 1, missing: 1, extra: 2, samples: { stale: ['7'], missing: ['1000'], extra: expect.arrayContaining(['8', '9']) } } });
    const text = formatVerify(found);
    expect(text).toMatch(/4 rows differ by key \(id\), ClickHouse read with FINAL/);
    expect(text).toMatch(/stale \(values differ\): 1 key: 7\n/);
    expect(text).toMatch(/missing in ClickHouse: 1 key: 1000/);

    const repaired = await verify(table, settings, true);
    expect(repaired.equal).toBe(true);
    expect(repaired.byKey!.repaired).toMatchObject({ deleted: 4, copied: 3 });
    expect(formatVerify(repaired)).toMatch(/^repaired .*1 stale, 1 missing, 2 extra found; 4 keys deleted in ClickHouse, then 3 rows copied from PostgreSQL\nverified .* are equal by key/);
    // FINAL equals PostgreSQL row for row (id 5 waits for the next sync), and the hard-deleted row is gone.
    // Aliases no column has: old servers apply WHERE to an alias named as the column.
    const cols = `toString(id) AS i, toString(balance) AS b, note AS n, toString(deleted) AS d`;
    expect(await chRows(`SELECT ${cols} FROM ${database}.${table} FINAL WHERE deleted = 0 AND id != 5 ORDER BY id`)).toEqual(
      await pgRows(`SELECT id::text AS i, balance::text AS b, note AS n, deleted::int::text AS d FROM ${table} WHERE NOT deleted AND id != 5 ORDER BY id`),
    );
    expect(await chRows(`SELECT toString(id) AS i FROM ${database}.${table} FINAL WHERE id IN (8, 9) AND deleted = 0`)).toEqual([]);
    expect((await verify(table, settings)).equal).toBe(true);
    // After the next sync id 5 is compared too.
    await sync(table, settings);
    expect((await verify(table, settings)).byKey).toMatchObject({ pending: 0, rows: 299, report: { missing: 0, extra: 0, stale: 0 } });
  }, 300_000);

  it('a timestamp cursor in append mode: a row inserted behind the watermark is missing and copied; one deleted in PostgreSQL is reported, kept', async () => {
    const table = t('logs');
    const settings: TableSettings = { cursor: 'at' };
    await freshTable(table, `(id bigint PRIMARY KEY, at timestamptz NOT NULL, msg text)`, `SELECT g, '2024-01-01 00:00:00+00'::timestamptz + (g / 3) * interval '1 second', 'm' || g FROM generate_series(1, 500) g`);
    expect((await sync(table, settings))!.rows).toBe(500);
    expect((await verify(table, settings)).equal).toBe(true);
    await pool.query(`INSERT INTO ${table} VALUES (501, '2000-01-01', 'late')`);
    await pool.query(`DELETE FROM ${table} WHERE id = 3`);
    const found = await verify(table, settings);
    expect(found.byKey).toMatchObject({ report: { missing: 1, extra: 1, stale: 0, samples: { missing: ['501'], extra: ['3'] } } });
    const repaired = await verify(table, settings, true);
    // Append mode keeps what PostgreSQL deleted: the extra row stays reported.
    expect(repaired.byKey).toMatchObject({ repaired: { copied: 1 }, report: { missing: 0, extra: 1, stale: 0 } });
    expect(repaired.equal).toBe(false);
    // Integer bounds do not apply: the whole table is compared by key.
    await expect(runVerify(client, temporal(), table, { fromId: '1', progress: 'plain', settings }, () => {})).rejects.toThrow(
      new RegExp(`--from-id and --to-id are integer cursor bounds, and ${table} is verified by its row key as a whole .*run pg2ch verify ${table} without them`),
    );
    // A backfill of a timestamp cursor says, in one line, what to run instead.
    const err = await startBackfill(client, temporal(), table, { settings }, () => {}).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(new RegExp(`pg2ch backfill partitions integer id ranges, and ${table} is synced by the timestamp "at" \\(mode append\\); run pg2ch sync ${table} instead: .*\\(at, id\\) order`));
    expect(err?.message).not.toMatch(/\n/);
  }, 300_000);

  it('a composite text key: keys sort differently in the two engines, and the differing one is still named', async () => {
    const table = t('composite');
    const settings: TableSettings = { mode: 'updated', orderBy: ['region', 'code'], tiebreak: 'id' };
    const regions = `ARRAY['eu', 'EU', 'é', 'a b', 'Z', 'z''q', 'tab\tx']`;
    await freshTable(
      table,
      `(region text NOT NULL, code text NOT NULL, id bigint NOT NULL UNIQUE, v int, updated_at timestamptz NOT NULL, PRIMARY KEY (region, code))`,
      `SELECT (${regions})[1 + g % 7], 'c' || (g / 7), g, g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second' FROM generate_series(0, 349) g`,
    );
    expect((await sync(table, settings))!.rows).toBe(350);
    const clean = await verify(table, settings);
    expect(clean.byKey).toMatchObject({ key: ['region', 'code'], rows: 350, report: { missing: 0, extra: 0, stale: 0 } });
    await pool.query(`UPDATE ${table} SET v = -1, updated_at = '2000-01-01' WHERE region = 'é' AND code = 'c3'`);
    await pool.query(`UPDATE ${table} SET v = -2, updated_at = '2000-01-01' WHERE region = 'tab\tx' AND code = 'c4'`);
    const found = await verify(table, settings);
    expect(found.byKey!.report).toMatchObject({ stale: 2, missing: 0, extra: 0 });
    expect(found.byKey!.report.samples.stale.sort()).toEqual(['(tab\tx, c4)', '(é, c3)'].sort());
    const repaired = await verify(table, settings, true);
    expect(repaired.equal).toBe(true);
    expect(await chRows(`SELECT region AS r, code AS c, toString(v) AS n FROM ${database}.${table} FINAL WHERE v < 0 ORDER BY v`)).toEqual([
      JSON.stringify({ r: 'tab\tx', c: 'c4', n: '-2' }),
      JSON.stringify({ r: 'é', c: 'c3', n: '-1' }),
    ]);
  }, 300_000);
});

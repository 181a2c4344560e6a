import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseTarget } from '../../activities';
import { readStatusReport, formatStatus } from '../../client/commands/status';
import { formatResult, resultJson, startSync } from '../../client/commands/sync';
import { runVerify } from '../../client/commands/verify';
import { readTemporalConfig } from '../../core/config';
import type { TableSettings } from '../../core/table-settings';
import { envFor, pgPool, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// A watermark is a cursor value: it means something only under the cursor it
// was written by, and only while the source's ids keep growing past it.
describe.each<Target>(['server', 'embedded'])('watermark checks on the %s ClickHouse', (target) => {
  const database = `it_wm_${target}`;
  const t = (name: string) => `wm_${name}_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    env = envFor(target, database, `it-wm-${target}`);
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
  const sync = (table: string, settings?: TableSettings) => startSync(client, temporal(), table, { once: true, chunkRows: 400, settings }, () => {});
  const count = async (table: string) =>
    (await (await ch.client.query({ query: `SELECT toString(count()) AS n FROM ${database}.${table}`, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n;

  async function freshTable(table: string, ddl: string, rows: string): Promise<void> {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} ${ddl}`);
    await pool.query(`INSERT INTO ${table} ${rows}`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
  }

  const EVENTS = `(id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, v text)`;
  const eventRows = (from: number, to: number) => `SELECT g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second', 'v' FROM generate_series(${from}, ${to}) g`;

  it('an integer cursor switched to a timestamp one stops with how to resync, and the resync copies everything', async () => {
    const table = t('int_to_ts');
    await freshTable(table, EVENTS, eventRows(1, 1000));
    expect((await sync(table))!.rows).toBe(1000);
    const err = await sync(table, { cursor: 'updated_at' }).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(new RegExp(`written under cursor "id", and this sync uses cursor "updated_at" \\(timestamp\\).*DROP TABLE \`${database}\`.\`${table}\` in ClickHouse, then run pg2ch sync ${table}`));
    expect(err?.message).not.toMatch(/22P02|invalid input syntax/);
    // Status says the same instead of reading the id as a time.
    const [status] = await readStatusReport(client, temporal(), table, { path: 'x', defaults: {}, tables: new Map([[table, { cursor: 'updated_at' }]]) });
    expect(status!.error).toMatch(/written under cursor "id"/);
    // The resync the message names: the table is created again and filled under the new cursor.
    await ch.client.command({ query: `DROP TABLE ${database}.${table}` });
    expect(await sync(table, { cursor: 'updated_at' })).toMatchObject({ rows: 1000 });
    await pool.query(`INSERT INTO ${table} ${eventRows(1001, 1010)}`);
    expect((await sync(table, { cursor: 'updated_at' }))!.rows).toBe(10);
    expect(await count(table)).toBe('1010');
  });

  it('a timestamp cursor switched to an integer one is not silent: the time is never read as an id', async () => {
    const table = t('ts_to_int');
    await freshTable(table, EVENTS, eventRows(1, 500));
    expect((await sync(table, { cursor: 'updated_at' }))!.rows).toBe(500);
    await pool.query(`INSERT INTO ${table} ${eventRows(501, 510)}`);
    await expect(sync(table)).rejects.toThrow(/written under cursor "updated_at", and this sync uses cursor "id" \(integer\).*DROP TABLE/);
    expect(await count(table)).toBe('500');
  });

  it('checkpoints from before the cursor was recorded: the kind is told by last_key', async () => {
    const table = t('legacy');
    await freshTable(table, EVENTS, eventRows(1, 300));
    expect((await sync(table))!.rows).toBe(300);
    // As an older release wrote them: no cursor name.
    await ch.client.command({ query: `ALTER TABLE ${database}.sync_control UPDATE cursor_name = NULL WHERE table_name = '${table}'` });
    for (let i = 0; i < 100; i++) {
      const [r] = await (await ch.client.query({ query: `SELECT toString(countIf(isNotNull(cursor_name))) AS n FROM ${database}.sync_control WHERE table_name = '${table}'`, format: 'JSONEachRow' })).json<{ n: string }>();
      if (r!.n === '0') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await expect(sync(table, { cursor: 'updated_at' })).rejects.toThrow(/written under an integer cursor, and this sync uses cursor "updated_at"/);
  });

  it('TRUNCATE ... RESTART IDENTITY then new rows: the sync stops with the fix, status shows no lag of 0, and the resync copies the new rows', async () => {
    const table = t('restart');
    await freshTable(table, `(id bigserial PRIMARY KEY, v text)`, `(v) SELECT 'old' FROM generate_series(1, 1000)`);
    expect((await sync(table))!.rows).toBe(1000);
    await pool.query(`TRUNCATE ${table} RESTART IDENTITY`);
    await pool.query(`INSERT INTO ${table} (v) SELECT 'new' FROM generate_series(1, 5)`);
    await expect(sync(table)).rejects.toThrow(new RegExp(`ids of ${table} restarted below the watermark: its sequence public.${table}_id_seq numbers the next row 6.*up to 1000.*DROP TABLE`));
    const [status] = await readStatusReport(client, temporal(), table);
    expect(status!.error).toMatch(/restarted below the watermark/);
    expect(status!.lagRows).not.toBe(0);
    expect(formatStatus([status!])).not.toMatch(/lag: 0 rows/);
    await ch.client.command({ query: `DROP TABLE ${database}.${table}` });
    expect((await sync(table))!.rows).toBe(5);
    const [after] = await readStatusReport(client, temporal(), table);
    expect(after).toMatchObject({ lagRows: 0, watermark: '5' });
    expect(after!.error).toBeUndefined();
  });

  it('rows deleted at the end are no restart: the sequence moved on', async () => {
    const table = t('tail_deleted');
    await freshTable(table, `(id bigserial PRIMARY KEY, v text)`, `(v) SELECT 'x' FROM generate_series(1, 100)`);
    expect((await sync(table))!.rows).toBe(100);
    await pool.query(`DELETE FROM ${table} WHERE id > 90`);
    expect((await sync(table))!.rows).toBe(0);
    await pool.query(`INSERT INTO ${table} (v) VALUES ('y')`);
    expect(await sync(table)).toMatchObject({ rows: 1, lastId: '101' });
    const [status] = await readStatusReport(client, temporal(), table);
    expect(status).toMatchObject({ lagRows: 0 });
    expect(status!.error).toBeUndefined();
    expect(status!.warning).toBeUndefined();
  });

  it('sync --once prints a timestamp cursor watermark as a time and key; --json adds them beside the raw value', async () => {
    const table = t('keyset_out');
    await freshTable(table, EVENTS, eventRows(1, 50));
    const result = (await sync(table, { cursor: 'updated_at' }))!;
    expect(result.lastId).toMatch(/^\d+:50$/);
    expect(formatResult(result)).toMatch(/last position 2024-01-01T00:00:50\.000Z \/ 50,/);
    const json = JSON.parse(resultJson(result));
    expect(json).toMatchObject({ type: 'result', lastId: result.lastId, lastTime: '2024-01-01T00:00:50.000Z', lastKey: '50' });
    const [status] = await readStatusReport(client, temporal(), table, { path: 'x', defaults: {}, tables: new Map([[table, { cursor: 'updated_at' }]]) });
    expect(status).toMatchObject({ watermark: '2024-01-01T00:00:50.000Z / 50', watermarkTime: '2024-01-01T00:00:50.000Z', watermarkKey: '50' });
  });

  it('verify and status of a table synced with settings find them without --config; without any, they name the flag', async () => {
    const table = t('no_id');
    await freshTable(table, `(code text PRIMARY KEY, seq bigint NOT NULL, v text)`, `SELECT 'c' || g, g, 'v' FROM generate_series(1, 700) g`);
    expect((await sync(table, { cursor: 'seq' }))!.rows).toBe(700);
    const verdict = await runVerify(client, temporal(), table, { progress: 'plain' }, () => {});
    expect(verdict).toMatchObject({ equal: true, rows: 700, upTo: '700' });
    const [status] = await readStatusReport(client, temporal(), table);
    expect(status).toMatchObject({ watermark: '700', lagRows: 0 });
    expect(status!.error).toBeUndefined();

    const never = t('never');
    await freshTable(never, `(code text PRIMARY KEY, seq bigint NOT NULL)`, `SELECT 'c' || g, g FROM generate_series(1, 3) g`);
    const [none] = await readStatusReport(client, temporal(), never);
    expect(none!.error).toMatch(/no integer cursor column.*pass the config file it was synced with \(--config <file>\)/);
  });
});

import type { ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdcStatusReport, dropCdc, streamStatusLines, startCdc, stopCdc } from '../../client/commands/cdc';
import { failureMessage } from '../../client/failure-message';
import { readTemporalConfig } from '../../core/config';
import { parseConfigFile } from '../../core/table-settings';
import { envFor, pgPool, services, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

const BIG = 100_000;

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.each<Target>(['server', 'embedded'])('cdc stream into the %s', (target) => {
  const database = `it_cdc_${target}`;
  const stream = `it_${target}`;
  const items = `cdc_items_${target}`;
  const plain = `cdc_plain_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseClient;
  let env: Record<string, string>;
  const config = () =>
    parseConfigFile('pg2ch.config.yaml', {
      tables: { [items]: { mode: 'cdc', stream }, [plain]: { mode: 'cdc', stream } },
    });
  const temporal = () => readTemporalConfig(env);

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'pg2ch_${stream}'`);
    await pool.query(`DROP PUBLICATION IF EXISTS pg2ch_${stream}`);
    await pool.query(`DROP TABLE IF EXISTS ${items}, ${plain}`);
    await pool.query(`CREATE TABLE ${items} (id int8 PRIMARY KEY, name text, qty int4 NOT NULL, body text)`);
    await pool.query(`ALTER TABLE ${items} REPLICA IDENTITY FULL`);
    await pool.query(`CREATE TABLE ${plain} (a int4, b int8, v int8 NOT NULL, PRIMARY KEY (a, b))`);
    // Rows there before the stream: the first copy brings them.
    await pool.query(`INSERT INTO ${items} SELECT g, 'before ' || g, g, NULL FROM generate_series(1, 50) g`);
    await pool.query(`INSERT INTO ${plain} SELECT g, g * 10, g FROM generate_series(1, 20) g`);
    env = envFor(target, database, `it-cdc-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse.client;
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await ch.command({ query: `CREATE DATABASE ${database}` });
    client = await temporalClient();
  }, 120_000);

  afterAll(async () => {
    await stopCdc(client, config(), stream, () => {}).catch(() => {});
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  // 18.16 has no JSONCompactEachRow: columns in select order from JSONEachRow.
  const chRows = async (sql: string) => (await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, string>>()).map((r) => Object.values(r).join('|'));
  const pgRows = async (sql: string) => (await pool.query({ text: sql, rowMode: 'array' })).rows.map((r: unknown[]) => r.join('|'));
  const itemsPg = () => pgRows(`SELECT id::text, coalesce(name, '<null>'), qty::text, coalesce(md5(body), '<null>'), length(coalesce(body, ''))::text FROM ${items} ORDER BY 1`).then((r) => r.sort());
  const itemsCh = () =>
    chRows(`SELECT toString(id) AS c1, ifNull(name, '<null>') AS c2, toString(qty) AS c3, if(isNull(body), '<null>', lower(hex(MD5(assumeNotNull(body))))) AS c4, toString(length(ifNull(body, ''))) AS c5 FROM ${database}.${items} FINAL WHERE _deleted = 0`).then((r) => r.sort());
  const plainPg = () => pgRows(`SELECT a::text, b::text, v::text FROM ${plain}`).then((r) => r.sort());
  const plainCh = () => chRows(`SELECT toString(a) AS c1, toString(b) AS c2, toString(v) AS c3 FROM ${database}.${plain} FINAL WHERE _deleted = 0`).then((r) => r.sort());
  const same = async (what: string) => {
    const want = await itemsPg();
    await until(`${what}: ${items} equal to ${JSON.stringify(want).slice(0, 300)}`, itemsCh, (got) => JSON.stringify(got) === JSON.stringify(want));
    const wantPlain = await plainPg();
    await until(`${what}: ${plain} equal`, plainCh, (got) => JSON.stringify(got) === JSON.stringify(wantPlain));
  };

  it('copies the rows there, then streams inserts, updates (a key change, a 100 kB TOAST value left unchanged), deletes and rollbacks', async () => {
    const lines: string[] = [];
    await startCdc(client, temporal(), config(), { stream }, (l) => lines.push(l));
    expect(lines.join('\n')).toContain(`stream ${stream}: streaming ${items}, ${plain}`);
    await same('first copy');

    await pool.query(`INSERT INTO ${items} VALUES (100, 'toast', 1, repeat(md5('x'), ${BIG / 32}))`);
    await pool.query(`UPDATE ${items} SET name = 'renamed ' || id WHERE id <= 10`);
    await pool.query(`DELETE FROM ${items} WHERE id BETWEEN 11 AND 15`);
    await pool.query(`UPDATE ${items} SET id = id + 1000 WHERE id = 20`);
    await pool.query(`UPDATE ${plain} SET b = b + 1 WHERE a = 3`);
    const s = await pool.connect();
    try {
      await s.query('BEGIN');
      await s.query(`INSERT INTO ${items} VALUES (200, 'rolled back', 1, NULL)`);
      await s.query(`DELETE FROM ${items} WHERE id = 1`);
      await s.query('ROLLBACK');
      await s.query('BEGIN');
      await s.query(`INSERT INTO ${items} VALUES (300, 'three hundred', 3, NULL)`);
      await s.query(`UPDATE ${items} SET qty = qty + 1 WHERE id = 300`);
      await s.query(`DELETE FROM ${items} WHERE id = 300`);
      await s.query(`INSERT INTO ${items} VALUES (300, 'again', 4, NULL)`);
      await s.query('COMMIT');
    } finally {
      s.release();
    }
    // The TOASTed body is left out of this update's new row; REPLICA IDENTITY FULL's old row carries it.
    await pool.query(`UPDATE ${items} SET qty = 7 WHERE id = 100`);
    await same('changes');
    const toast = await chRows(`SELECT toString(length(body)) FROM ${database}.${items} FINAL WHERE id = 100`);
    expect(toast).toEqual([String(BIG)]);
    const [status] = await cdcStatusReport(client, temporal(), config(), stream, {});
    expect(status).toMatchObject({ stream, slot: { active: true }, warnings: [] });
    expect(status!.checkpoint).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(status!.lastBatchAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(Number(status!.slot!.retainedBytes)).toBeGreaterThan(0);
    // pg2ch status (no table) prints the config file's streams after the tables.
    const streamLines = await streamStatusLines(client, temporal(), config(), {});
    expect(streamLines.join('\n')).toMatch(new RegExp(`^stream ${stream}: slot pg2ch_${stream} active, confirmed [0-9A-F]+/[0-9A-F]+`));
    expect(await streamStatusLines(client, temporal(), undefined, {})).toEqual([]);
  });

  it('adds a column added in PostgreSQL, and marks every row deleted on TRUNCATE', async () => {
    await pool.query(`ALTER TABLE ${plain} ADD COLUMN note text`);
    await pool.query(`INSERT INTO ${plain} VALUES (99, 1, 1, 'noted')`);
    await until('the added column', () => chRows(`SELECT ifNull(note, '') FROM ${database}.${plain} FINAL WHERE a = 99`), (r) => r[0] === 'noted');
    await pool.query(`TRUNCATE ${plain}`);
    await pool.query(`INSERT INTO ${plain} VALUES (1, 1, 5, 'after')`);
    await same('truncate');
    expect(await plainCh()).toEqual(['1|1|5']);
  });

  it('stops a table whose column was retyped, with the copy path\'s message, before writing anything of it', async () => {
    await pool.query(`ALTER TABLE ${plain} ALTER COLUMN v TYPE text`);
    await pool.query(`INSERT INTO ${plain} VALUES (2, 2, 'text now', NULL)`);
    const handle = client.workflow.getHandle(`cdc:${stream}`);
    const failure = await handle.result().then(() => 'finished', (e: Error) => failureMessage(e));
    expect(failure).toMatch(/column "v" changed type: PostgreSQL text maps to .*String.*nothing was copied/);
    expect(await plainCh()).toEqual(['1|1|5']);
    const [stopped] = await cdcStatusReport(client, temporal(), config(), stream, { PG2CH_CDC_WAL_WARN_BYTES: '1' });
    expect(stopped!.warnings.join('\n')).toMatch(new RegExp(`slot pg2ch_${stream} is inactive.*\\n.*retains \\d+ bytes of WAL \\(over 1\\)`));
    const out: string[] = [];
    await dropCdc(client, temporal(), config(), stream, (l) => out.push(l));
    expect(out.join('\n')).toContain(`slot pg2ch_${stream} dropped`);
    expect((await pool.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pg2ch_${stream}'`)).rowCount).toBe(0);
  });
});

describe('cdc start refuses, naming the fix', () => {
  const stream = 'it_refuse';
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS cdc_nokey, cdc_toasty`);
    await pool.query(`CREATE TABLE cdc_nokey (a int4, b text)`);
    await pool.query(`CREATE TABLE cdc_toasty (id int4 PRIMARY KEY, doc text)`);
    env = envFor('server', 'it_cdc_refuse', 'it-cdc-refuse');
    worker = await startWorker(env);
    client = await temporalClient();
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  const start = (table: string) =>
    startCdc(client, readTemporalConfig(env), parseConfigFile('f.yaml', { tables: { [table]: { mode: 'cdc', stream } } }), { stream }, () => {}).then(
      () => 'started',
      (e: Error) => e.message,
    );

  it('a table without primary key', async () => {
    expect(await start('cdc_nokey')).toMatch(/^stream it_refuse failed: table cdc_nokey has no primary key.*ADD PRIMARY KEY/);
  });

  it('a table whose TOASTable values an update would leave out, without REPLICA IDENTITY FULL', async () => {
    expect(await start('cdc_toasty')).toMatch(/table cdc_toasty has columns PostgreSQL may store out of line \(doc\).*ALTER TABLE "public"."cdc_toasty" REPLICA IDENTITY FULL/);
    // Nothing was created for the refused stream.
    expect((await pool.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pg2ch_${stream}'`)).rowCount).toBe(0);
  });

  it('a role without REPLICATION', async () => {
    await pool.query(`DROP ROLE IF EXISTS cdc_norepl`);
    await pool.query(`CREATE ROLE cdc_norepl LOGIN PASSWORD 'norepl-pw-1'`);
    const other = new (await import('pg')).default.Pool({ connectionString: services().pgUrl.replace(/\/\/[^@]*@/, '//cdc_norepl:norepl-pw-1@'), max: 1 });
    try {
      const { checkPrerequisites } = await import('../../sources/postgres-cdc');
      await expect(checkPrerequisites(other, { slot: 'pg2ch_x', publication: 'pg2ch_x' }, [])).rejects.toThrow(/role cdc_norepl may not read replication: run ALTER ROLE "?cdc_norepl"? REPLICATION/);
    } finally {
      await other.end();
    }
  });
});

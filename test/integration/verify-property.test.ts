import { Readable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { insertTsv } from '../../activities/clickhouse';
import { copyStatement } from '../../activities/serialize';
import { chRangeText, pgRangeText, type Mismatch } from '../../activities/verify';
import { startSync } from '../../client/commands/sync';
import { readTemporalConfig, secretsOf } from '../../core/config';
import { canonicalField } from '../../core/row-digest';
import type { TableSettings } from '../../core/table-settings';
import type { ChunkRange, TablePlan } from '../../core/types';
import { verifyTable, type VerifyResult } from '../../workflows/verify';
import { createPgPool } from '../../worker/connections';
import { envFor, services, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';
import { COLUMNS, DDL, fill, idsFor, mulberry32, valueOf, type Ctx } from '../support/random-values';

// verify never lies: over a table with a column of every type of the README's
// type table, filled with random values and their edges, verify finds a
// fresh sync equal, and finds exactly the rows where one value was changed.
// The PRNG is seeded: a failure prints its seed, and VERIFY_SEED=<seed>
// replays it.
const SEED = Number(process.env.VERIFY_SEED ?? Date.now() % 1_000_000_007);
const ROWS = 240;

describe.each(['embedded', 'server'] as Target[])('verify tells equal from unequal, every type: %s', (target) => {
  const database = `it_verify_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;
  let workerPool: pg.Pool;

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: services().pgUrl, max: 2 });
    env = envFor(target, database, `it-verify-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    workerPool = createPgPool(worker.config.postgres, 2);
    client = await temporalClient();
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
    await workerPool?.end();
  });

  const sync = (table: string, settings: TableSettings = {}) =>
    startSync(client, readTemporalConfig(env), table, { once: true, chunkRows: 100, settings }, () => {});

  const verify = (table: string, settings: TableSettings = {}, bucketRows = 1, repair = false) =>
    client.workflow.execute(verifyTable, {
      workflowId: `verify-${database}-${table}-${Date.now()}`,
      taskQueue: readTemporalConfig(env).taskQueue,
      args: [{ table, bucketRows, settings, repair }],
    });

  const planOf = async (table: string, settings: TableSettings): Promise<TablePlan> => {
    const cfg = worker.config;
    const acts = createActivities({ pg: workerPool, pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
    const out = (await new MockActivityEnvironment().run(acts.planVerify, { table, settings })) as { plan: TablePlan };
    return out.plan;
  };

  /** For a failure message: which columns of a differing range differ, both sides' fields. */
  async function explain(table: string, settings: TableSettings, ms: Mismatch[]): Promise<string[]> {
    const plan = await planOf(table, settings);
    const out: string[] = [];
    for (const m of ms.slice(0, 20)) {
      const range: ChunkRange = { afterId: m.afterId, toId: m.toId, rows: 0 };
      const [p, c] = await Promise.all([pgRangeText(workerPool, plan, range), chRangeText(ch, plan, range)]);
      const [pl, cl] = [p.split('\n')[0]?.split('\t') ?? [], c.split('\n')[0]?.split('\t') ?? []];
      plan.columns.forEach((col, i) => {
        if (canonicalField(col.chType, pl[i] ?? '') !== canonicalField(col.chType, cl[i] ?? '')) {
          out.push(`(${m.afterId}, ${m.toId}] ${col.name} ${col.chType}: PostgreSQL ${JSON.stringify(pl[i])} ClickHouse ${JSON.stringify(cl[i])}`);
        }
      });
      if (p.split('\n').length !== c.split('\n').length) out.push(`(${m.afterId}, ${m.toId}] rows: ${p.split('\n').length - 1} vs ${c.split('\n').length - 1}`);
    }
    return out;
  }

  async function expectEqual(table: string, settings: TableSettings, result: VerifyResult, rows: number): Promise<void> {
    const why = result.equal ? [] : await explain(table, settings, result.mismatches);
    expect(why.join('\n'), `seed ${SEED}`).toBe('');
    expect(result, `seed ${SEED}`).toMatchObject({ equal: true, rows });
  }

  it(`a fresh sync is equal; one changed value in each column is exactly its row (seed printed on failure)`, { timeout: 600_000 }, async () => {
    console.log(`verify property test (${target}): seed ${SEED}`);
    const r = mulberry32(SEED);
    const ctx: Ctx = { wide: ch.caps.dateTime64, oldServer: !ch.caps.dateTime64 };
    const table = 'every_type';
    await pool.query(DDL(table));
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
    const ids = idsFor(r, ROWS);
    const rows = ids.map((id) => [id, ...COLUMNS.filter((c) => c.gen || c.of).map((c) => valueOf(c, r, ctx))]);
    // Every column's NULL, and (arrays) its empty value, in the first rows.
    rows[1] = [ids[1]!, ...COLUMNS.filter((c) => c.gen || c.of).map(() => null)];
    rows[2] = [ids[2]!, ...COLUMNS.filter((c) => c.gen || c.of).map((c) => (c.of ? '{}' : c.pg === 'bytea' || c.pg === 'text' ? '' : null))];
    await fill(pool, table, rows);
    expect((await sync(table))!.rows).toBe(ROWS);
    await expectEqual(table, {}, await verify(table), ROWS);

    // Column k's change goes to its own row, so each differing range names one column.
    const changed = COLUMNS.filter((c) => c.change).map((c, k) => ({ col: c, id: ids[3 + 3 * k]! }));
    expect(changed.length * 3 + 3).toBeLessThan(ROWS);
    for (const { col, id } of changed) {
      const [a, b] = col.change!;
      const type = col.pg;
      await pool.query(`UPDATE ${table} SET ${col.name} = CASE WHEN ${col.name}::text IS NOT DISTINCT FROM $1::${type}::text THEN $2::${type} ELSE $1::${type} END WHERE id = $3`, [a, b, id]);
    }
    const found = await verify(table);
    const got = found.mismatches.map((m) => m.toId).sort();
    const want = changed.map((c) => c.id).sort();
    const missed = changed.filter((c) => !got.includes(c.id)).map((c) => `${c.col.name} at id ${c.id}`);
    const extra = found.mismatches.filter((m) => !want.includes(m.toId));
    expect([...missed, ...(await explain(table, {}, extra))].join('\n'), `seed ${SEED}`).toBe('');
    expect(found.equal).toBe(false);
  });

  it('by key (updated mode, FINAL): a fresh sync is equal; a changed value with an older updated_at is stale, and --repair makes it equal, every type', { timeout: 600_000 }, async () => {
    const r = mulberry32(SEED + 1);
    const ctx: Ctx = { wide: ch.caps.dateTime64, oldServer: !ch.caps.dateTime64 };
    const table = 'every_type_keyed';
    const settings: TableSettings = { mode: 'updated' };
    await pool.query(DDL(table));
    await pool.query(`ALTER TABLE ${table} ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
    const ids = idsFor(r, ROWS);
    const rows = ids.map((id) => [id, ...COLUMNS.filter((c) => c.gen || c.of).map((c) => valueOf(c, r, ctx))]);
    rows[1] = [ids[1]!, ...COLUMNS.filter((c) => c.gen || c.of).map(() => null)];
    await fill(pool, table, rows);
    expect((await sync(table, settings))!.rows).toBe(ROWS);
    const clean = await verify(table, settings);
    expect(clean.byKey, `seed ${SEED}`).toMatchObject({ rows: ROWS, report: { stale: 0, missing: 0, extra: 0 } });
    // Each column's change in its own row, stamped older than what ClickHouse holds.
    const changed = COLUMNS.filter((c) => c.change).map((c, k) => ({ col: c, id: ids[3 + 3 * k]! }));
    for (const { col, id } of changed) {
      const [a, b] = col.change!;
      const type = col.pg;
      await pool.query(
        `UPDATE ${table} SET ${col.name} = CASE WHEN ${col.name}::text IS NOT DISTINCT FROM $1::${type}::text THEN $2::${type} ELSE $1::${type} END, updated_at = '2000-01-01' WHERE id = $3`,
        [a, b, id],
      );
    }
    const found = (await verify(table, settings)).byKey!;
    expect(found.report, `seed ${SEED}`).toMatchObject({ stale: changed.length, missing: 0, extra: 0 });
    const want = changed.map((c) => c.id);
    expect(found.report.samples.stale.filter((k) => !want.includes(k)), `seed ${SEED}`).toEqual([]);
    const repaired = await verify(table, settings, 1, true);
    expect(repaired.byKey, `seed ${SEED}`).toMatchObject({ repaired: { deleted: changed.length, copied: changed.length }, report: { stale: 0, missing: 0, extra: 0 } });
    expect(repaired.equal).toBe(true);
  });

  it('rows whose values were clamped or nulled are equal to what the sync meant to store; a real change is still found', { timeout: 300_000 }, async () => {
    const table = 'out_of_range';
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, dt date, ts timestamp, tstz timestamptz, n numeric(6,2))`);
    const wide = ch.caps.dateTime64;
    const odd = ['infinity', '-infinity', '4713-01-01 BC', '2300-01-01', '9999-12-31', ...(wide ? ['1899-12-31'] : ['1969-12-31', '1900-01-01', '2106-01-01'])];
    const values: Array<[number, string, string, string, string | null]> = odd.map((v, i) => [i + 1, v, v, v === '4713-01-01 BC' ? v : `${v}${v.includes('infinity') ? '' : ' 00:00:00+00'}`, i % 2 ? 'NaN' : '1.50']);
    values.push([100, '2000-01-01', '2000-01-01 00:00:00.5', '2000-01-01 00:00:00+00', '2.00'], [101, '1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', null]);
    for (const v of values) await pool.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5)`, v);
    const policies: Array<[string, TableSettings]> = [
      // 18.16 cannot yet read a clamped timestamptz (the types package's item).
      ['clamp', { outOfRange: 'clamp', destination: `${table}_clamp`, exclude: wide ? ['n'] : ['n', 'tstz'] }],
      ['null', { outOfRange: 'null', destination: `${table}_null` }],
    ];
    for (const [, s] of policies) await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${s.destination}` });
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
    for (const [, s] of policies) {
      expect((await sync(table, s))!.rows).toBe(values.length);
      await expectEqual(table, s, await verify(table, s), values.length);
    }
    // An out-of-range value made in range is a change.
    await pool.query(`UPDATE ${table} SET dt = '2001-01-01' WHERE id = 1`);
    for (const [name, s] of policies) {
      const found = await verify(table, s);
      expect(found.mismatches.map((m) => m.toId), name).toEqual(['1']);
    }
  });
});

describe.each(['embedded', 'server'] as Target[])('verify compares bytea with its documented hex form: %s', (target) => {
  const database = `it_verify_bytea_${target}`;
  const ESCAPE_DB = 'pg2ch_verify_escape';
  let admin: pg.Pool;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;
  const urlFor = (db: string) => Object.assign(new URL(services().pgUrl), { pathname: `/${db}` }).toString();

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: services().pgUrl, max: 1 });
    if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [ESCAPE_DB])).rowCount === 0) await admin.query(`CREATE DATABASE ${ESCAPE_DB}`);
    // A database default that changes how bytea prints: the stored form must still be hex.
    await admin.query(`ALTER DATABASE ${ESCAPE_DB} SET bytea_output = 'escape'`);
    pool = new pg.Pool({ connectionString: urlFor(ESCAPE_DB), max: 2 });
    env = { ...envFor(target, database, `it-verify-bytea-${target}`), PG_URL: urlFor(ESCAPE_DB) };
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
    await admin?.end();
  });

  it('a destination holding the escape form differs; one holding the hex form is equal', { timeout: 300_000 }, async () => {
    const table = 'blobs';
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, b bytea, bs bytea[])`);
    await pool.query(`INSERT INTO ${table} VALUES (1, '\\x00ff5c27', ARRAY['\\x0a'::bytea, NULL, '\\x']), (2, '\\x', '{}'), (3, NULL, NULL), (4, 'abc', ARRAY['xyz'::bytea])`);
    for (const t of [table, `${table}_hex`, `${table}_escape`, 'sync_control']) await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${t}` });
    await startSync(client, readTemporalConfig(env), table, { once: true, chunkRows: 100 }, () => {});
    const cfg = worker.config;
    const acts = createActivities({ pg: createPgPool(cfg.postgres, 1), pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
    const { plan } = (await new MockActivityEnvironment().run(acts.planVerify, { table })) as { plan: TablePlan };
    // Two copies of the destination, filled with the copy's own text under each bytea_output.
    for (const form of ['hex', 'escape']) {
      await ch.client.command({ query: `CREATE TABLE ${database}.${table}_${form} AS ${database}.${table}` });
      const c = await pool.connect();
      try {
        await c.query(`SET bytea_output = '${form}'`);
        const parts: Buffer[] = [];
        for await (const part of c.query(copyTo(copyStatement(plan, { afterId: null, toId: '4', rows: 0 })))) parts.push(part as Buffer);
        await insertTsv(ch, { ...plan, destination: { database, table: `${table}_${form}` } }, Readable.from([Buffer.concat(parts)], { objectMode: false }), undefined);
      } finally {
        c.release();
      }
    }
    const verifyIn = (destination: string) =>
      client.workflow.execute(verifyTable, {
        workflowId: `verify-${database}-${destination}-${Date.now()}`,
        taskQueue: readTemporalConfig(env).taskQueue,
        args: [{ table, bucketRows: 1, settings: { destination } }],
      });
    expect(await verifyIn(`${table}_hex`)).toMatchObject({ equal: true, rows: 4 });
    const escaped = await verifyIn(`${table}_escape`);
    // Rows 1, 2 and 4 print differently in the two forms; row 3 is all NULL.
    expect(escaped.mismatches.map((m) => m.toId)).toEqual(['1', '2', '4']);
  });
});

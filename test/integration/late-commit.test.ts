import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, firstValue, pgPool, serverClickHouse } from '../support/harness';

// Sequences hand out ids at insert time, not at commit time: a transaction
// holding id N can commit after higher ids were synced and the watermark
// passed N. On the tokenless Debian server, so plain count() is the proof.
describe('a row committed late, behind the watermark', () => {
  const table = 'late_logs';
  const database = 'it_late';
  const queue = 'it-late';
  let pool: pg.Pool;
  let ch: ClickHouseClient;
  let env: Record<string, string>;
  const procs: CliRun[] = [];

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: 1_000, table });
    env = envFor('server', database, queue);
    ch = serverClickHouse(env);
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await ch.command({ query: `CREATE DATABASE ${database}` });
    const worker = runCli(['worker'], env);
    procs.push(worker);
    await waitForOutput(worker, new RegExp(`pg2ch worker on task queue ${queue}`));
  });

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await ch?.close();
    await pool?.end();
  });

  const one = (sql: string) => firstValue(ch, sql);
  const sync = async () => {
    const run = runCli(['sync', table, '--once', '--json'], env);
    procs.push(run);
    expect((await run.exit).code, run.stderr()).toBe(0);
    return JSON.parse(run.stdout().split('\n').find((l) => l.includes('"type":"result"'))!) as Record<string, unknown>;
  };

  it('is copied by a later run once its transaction has committed', async () => {
    expect(await sync()).toMatchObject({ rows: 1_000, lastId: '1000' });

    // Takes id 1001 and stays open while 1002..1100 commit and are synced.
    const open = await pool.connect();
    try {
      await open.query('BEGIN');
      await open.query(`INSERT INTO ${table} (id, created_at, event_name, user_id, properties) VALUES (1001, now(), 'late', 1, '{"late": true}')`);
      await seedActivityLogs(pool, { firstId: 1_002, count: 99, table });
      expect(await sync()).toMatchObject({ rows: 99, lastId: '1100' });
      expect(await one(`SELECT toString(count()) AS n FROM ${database}.${table} WHERE id = 1001`)).toBe('0');
      // A run while the transaction is still open cannot see the row yet, and must not give up on it.
      expect(await sync()).toMatchObject({ rows: 0 });
      await open.query('COMMIT');
    } finally {
      open.release();
    }

    expect(await sync()).toMatchObject({ rows: 1, lateRows: 1, lastId: '1100' });
    expect(await one(`SELECT toString(count()) AS n FROM ${database}.${table}`)).toBe('1100');
    expect(await one(`SELECT toString(uniqExact(id)) AS n FROM ${database}.${table}`)).toBe('1100');
    expect(await one(`SELECT event_name AS n FROM ${database}.${table} WHERE id = 1001`)).toBe('late');
    // Checked once: the next run copies nothing more.
    expect(await sync()).toMatchObject({ rows: 0 });
    expect(await one(`SELECT toString(count()) AS n FROM ${database}.${table}`)).toBe('1100');

    const verify = runCli(['verify', table], env);
    procs.push(verify);
    expect((await verify.exit).code, verify.stdout() + verify.stderr()).toBe(0);
    expect(verify.stdout()).toMatch(/verified late_logs: PostgreSQL and ClickHouse are equal over ids \(start, 1100\]: 1100 rows/);

    // A duplicate in ClickHouse is a difference: exit code 1 and the range that holds it.
    await ch.command({ query: `INSERT INTO ${database}.${table} SELECT * FROM ${database}.${table} WHERE id = 1050` });
    const differs = runCli(['verify', table], env);
    procs.push(differs);
    expect((await differs.exit).code, differs.stderr()).toBe(1);
    expect(differs.stdout()).toMatch(/verified late_logs: 1 ranges differ over ids \(start, 1100\]/);
    expect(differs.stdout()).toMatch(/\n  \(\d+, \d+\]: PostgreSQL (\d+) rows, ids \d+-\d+, checksum \d+; ClickHouse \d+ rows/);
    const [, pgRows, chRows] = /PostgreSQL (\d+) rows.*ClickHouse (\d+) rows/.exec(differs.stdout())!;
    expect(Number(chRows)).toBe(Number(pgRows) + 1);

    // A row behind the watermark that nothing rechecks (an id given by hand): verify --repair copies it;
    // the duplicate, which no copy can undo, is still reported.
    await pool.query(`INSERT INTO ${table} (id, created_at, event_name, user_id, properties) VALUES (0, now(), 'by hand', 1, '{}')`);
    const repair = runCli(['verify', table, '--repair'], env);
    procs.push(repair);
    expect((await repair.exit).code, repair.stderr()).toBe(1);
    expect(repair.stdout()).toMatch(/^repaired late_logs: 1 missing rows copied into ClickHouse\nverified late_logs: 1 ranges differ over ids \(start, 1100\] \(1101 rows in PostgreSQL\) after the repair/m);
    expect(await one(`SELECT event_name AS n FROM ${database}.${table} WHERE id = 0`)).toBe('by hand');
    expect(await one(`SELECT toString(count()) AS n FROM ${database}.${table}`)).toBe('1102');
  });
});

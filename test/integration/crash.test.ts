import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, firstValue, pgPool, serverClickHouse, services } from '../support/harness';

// The worst moment to die: a chunk is in ClickHouse, its checkpoint is not.
// The Debian server has no dedup tokens, so only the resume check prevents a
// duplicate here; plain count() (no FINAL) must still equal PostgreSQL.
describe('a worker killed between insert and checkpoint', () => {
  const table = 'crash_logs';
  const database = 'it_crash';
  const ROWS = 30_000;
  let pool: pg.Pool;
  let ch: ClickHouseClient;
  let env: Record<string, string>;
  const procs: CliRun[] = [];

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: ROWS, table });
    env = envFor('server', database, 'it-crash');
    ch = serverClickHouse(env);
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
  });

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await ch?.close();
    await pool?.end();
  });

  const count = (sql: string) => firstValue(ch, sql);

  it('resumes without losing or duplicating a row', async () => {
    const crashing = runCli(['worker'], { ...env, PG2CH_TEST_CRASH_AFTER_INSERT: '1' });
    procs.push(crashing);
    await waitForOutput(crashing, /pg2ch worker on task queue it-crash/);
    const sync = runCli(['sync', table, '--once', '--chunk-rows', '10000'], env);
    procs.push(sync);
    const died = await crashing.exit;
    expect(died.signal).toBe('SIGKILL');

    // A chunk landed, its checkpoint did not. The chunk copying beside it may
    // have left the rows that had arrived: this server commits an insert whose
    // connection closed (partial-chunk.test covers that resume on its own).
    const whole = await count(
      `SELECT toString(countIf(n = 10000)) AS n FROM (SELECT intDiv(id - 1, 10000) AS chunk, count() AS n FROM ${database}.${table} GROUP BY chunk)`,
    );
    expect(Number(whole)).toBeGreaterThanOrEqual(1);
    expect(await count(`SELECT toString(count()) AS n FROM ${database}.sync_control WHERE table_name = '${table}'`)).toBe('0');

    const healthy = runCli(['worker'], env);
    procs.push(healthy);
    const done = await sync.exit;
    expect(done.code, sync.stderr()).toBe(0);
    expect(sync.stdout()).toContain(`synced crash_logs: 30000 rows copied in 3 chunks, ${whole} already present, last id 30000`);

    expect(await count(`SELECT toString(count()) AS n FROM ${database}.${table}`)).toBe(String(ROWS));
    expect(await count(`SELECT toString(count()) AS n FROM ${database}.${table} FINAL`)).toBe(String(ROWS));
    expect(await count(`SELECT toString(uniqExact(id)) AS n FROM ${database}.${table}`)).toBe(String(ROWS));

    healthy.child.kill('SIGTERM');
    const stopped = await healthy.exit;
    expect(stopped.code).toBe(0);
    expect(healthy.stdout()).toMatch(/pg2ch worker stopped/);
  });

  it('never writes a password into the worker log', () => {
    const log = procs.map((p) => p.stdout() + p.stderr()).join('\n');
    expect(log.length).toBeGreaterThan(0);
    const s = services();
    for (const secret of [new URL(s.pgUrl).password, decodeURIComponent(new URL(s.clickhouseUrl).password)]) {
      expect(log).not.toContain(secret);
    }
  });
});

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs } from '../../devstack/activity-logs';
import { freePort } from '../../devstack/free-port';
import { runCli } from '../support/cli';
import { envFor, pgPool, services, startWorker, type RunningWorker } from '../support/harness';

/** A user error is one line on stderr, names what is wrong, and never shows a stack or a password. */
function expectOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^pg2ch: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
  const s = services();
  expect(stderr).not.toContain(new URL(s.pgUrl).password);
  expect(stderr).not.toContain(decodeURIComponent(new URL(s.clickhouseUrl).password));
}

describe('pg2ch reports bad input as one clear line', () => {
  let worker: RunningWorker;
  let pool: pg.Pool;
  let env: Record<string, string>;

  beforeAll(async () => {
    env = envFor('server', 'it_cli', 'it-cli');
    worker = await startWorker(env);
    pool = pgPool();
  });
  afterAll(async () => {
    await worker?.stop();
    await pool?.end();
  });

  it('an unknown table fails the sync without retrying', async () => {
    const run = runCli(['sync', 'no_such_table', '--once'], env);
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), /sync of no_such_table failed: table no_such_table does not exist in PostgreSQL/);
  });

  it('run from the TypeScript (no current dist/, as after editing a .ts), the commands that load their code lazily still run', async () => {
    // PG2CH_FROM_SOURCE=1 takes the path bin/pg2ch.cjs takes when dist/ is missing or stale.
    const run = runCli(['sync', 'no_such_table', '--once'], { ...env, PG2CH_FROM_SOURCE: '1' });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), /sync of no_such_table failed: table no_such_table does not exist in PostgreSQL/);
  });

  it('a table name with an unbalanced quote is refused as a name, and nothing runs', async () => {
    await createActivityLogs(pool, 'victim');
    const run = runCli(['sync', 'victim"; DROP TABLE victim; --', '--once'], env);
    expect((await run.exit).code).toBe(2);
    expectOneLineError(run.stderr(), /table name "victim\\"; DROP TABLE victim; --" has an unclosed double quote/);
    const still = await pool.query(`SELECT to_regclass('victim') IS NOT NULL AS ok`);
    expect(still.rows[0].ok).toBe(true);
  });

  it('a table whose name holds quotes, a semicolon and unicode syncs like any other', async () => {
    await pool.query(`DROP TABLE IF EXISTS "we""ird; DROP TABLE victim; ☃"`);
    await createActivityLogs(pool, `we"ird; DROP TABLE victim; ☃`);
    await pool.query(`INSERT INTO "we""ird; DROP TABLE victim; ☃" VALUES (1, '2024-01-01', 'a', 1, '{}'), (2, '2024-01-02', 'b', 2, '{}')`);
    const run = runCli(['sync', `"we""ird; DROP TABLE victim; ☃"`, '--once'], env);
    expect((await run.exit).code, run.stderr()).toBe(0);
    expect(run.stdout()).toContain(`synced "we""ird; DROP TABLE victim; ☃": 2 rows copied in 1 chunks`);
    const still = await pool.query(`SELECT to_regclass('victim') IS NOT NULL AS ok`);
    expect(still.rows[0].ok).toBe(true);
  });

  it.each([['0'], ['-5'], ['1.5'], ['many']])('--chunk-rows %s is refused before anything starts', async (n) => {
    const run = runCli(['sync', 'activity_logs', '--chunk-rows', n], env);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr().trim()).toMatch(new RegExp(`--chunk-rows must be a whole number from 1 to 1000000, got "${n.replace('.', '\\.')}"`));
  });

  it('a malformed PG_URL names the variable', async () => {
    const run = runCli(['worker'], { ...env, PG_URL: 'mysql://u:p@h/db' });
    expect((await run.exit).code).toBe(2);
    expectOneLineError(run.stderr(), /PG_URL has scheme "mysql": expected postgres:\/\/user:password@host:port\/db/);
  });

  it('a wrong PostgreSQL password is reported without echoing any password', async () => {
    const url = new URL(services().pgUrl);
    url.password = 'definitely-wrong-pw';
    const run = runCli(['worker'], { ...env, PG_URL: url.toString() });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/pg2ch_test \(PG_URL\): PostgreSQL rejected the credentials/);
    expect(run.stderr()).not.toContain('definitely-wrong-pw');
  });

  it('a wrong ClickHouse password is reported as such', async () => {
    const url = new URL(services().clickhouseUrl);
    url.password = 'wrong-ch-pw';
    const run = runCli(['worker'], { ...env, CLICKHOUSE_URL: url.toString() });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), /cannot use ClickHouse at http:\/\/127\.0\.0\.1:\d+ \(CLICKHOUSE_URL\): ClickHouse rejected the credentials/);
    expect(run.stderr()).not.toContain('wrong-ch-pw');
  });

  it('an unreachable Temporal server is named', async () => {
    const port = await freePort();
    const run = runCli(['sync', 'activity_logs'], { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${port}.*TEMPORAL_ADDRESS`));
  });

  it('an unreachable PostgreSQL is named', async () => {
    const port = await freePort();
    const run = runCli(['worker'], { ...env, PG_URL: `postgres://u:secret-pw@127.0.0.1:${port}/db` });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), new RegExp(`cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/db \\(PG_URL\\)`));
    expect(run.stderr()).not.toContain('secret-pw');
  });

  it('an unreachable ClickHouse is named', async () => {
    const port = await freePort();
    const run = runCli(['worker'], { ...env, CLICKHOUSE_URL: `http://u:secret-pw@127.0.0.1:${port}` });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), new RegExp(`ClickHouse at http://127\\.0\\.0\\.1:${port}.*CLICKHOUSE_URL`));
    expect(run.stderr()).not.toContain('secret-pw');
  });

  it('an invalid setting names the variable and what it accepts', async () => {
    const run = runCli(['worker'], { ...env, PG2CH_COPY_STRATEGY: 'fastest' });
    expect((await run.exit).code).toBe(2);
    expectOneLineError(run.stderr(), /PG2CH_COPY_STRATEGY/);
  });

  it('status with no worker on the task queue waits for one, then says how to start it', async () => {
    const run = runCli(['status'], { ...env, PG2CH_TASK_QUEUE: 'it-cli-nobody' });
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), /no worker is polling task queue it-cli-nobody, .*start it with: pg2ch worker/);
  });

  it('status finds a worker that starts while it waits', async () => {
    const late = { ...env, PG2CH_TASK_QUEUE: 'it-cli-late' };
    const run = runCli(['status'], late);
    await new Promise((r) => setTimeout(r, 2_000));
    const lateWorker = await startWorker(late);
    try {
      const done = await run.exit;
      expect(done.code, run.stderr()).toBe(0);
    } finally {
      await lateWorker.stop();
    }
  });

  it.each([
    ['no integer column at all', `CREATE TABLE no_cursor (name text PRIMARY KEY, created_at timestamp)`],
    ['a text id', `CREATE TABLE no_cursor (id text PRIMARY KEY, created_at timestamp)`],
  ])('a table without an integer cursor (%s) fails at once and writes nothing', async (_, ddl) => {
    await pool.query('DROP TABLE IF EXISTS no_cursor');
    await pool.query(ddl);
    await pool.query(`INSERT INTO no_cursor VALUES ('a', now())`);
    const run = runCli(['sync', 'no_cursor', '--once'], env);
    expect((await run.exit).code).toBe(1);
    expectOneLineError(run.stderr(), /table no_cursor has no integer cursor column: pg2ch needs a single-column integer primary key or an integer column named "id"/);
    const tables = await worker.worker.clickhouse.client.query({ query: `SELECT name FROM system.tables WHERE database = 'it_cli' AND name = 'no_cursor'`, format: 'JSONEachRow' });
    expect(await tables.json()).toEqual([]);
  });
});

import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/free-port';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, pgPool, services, startWorker, type RunningWorker, type Target } from '../support/harness';

/** One line on stderr, prefixed pg2ch:, matching pattern: no stack, no "unexpected error", no library warning. */
function expectOneLine(run: CliRun, pattern: RegExp) {
  const stderr = run.stderr();
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^pg2ch: /);
  expect(lines[0]).not.toMatch(/unexpected error/);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
  const s = services();
  expect(stderr).not.toContain(decodeURIComponent(new URL(s.pgUrl).password));
  expect(stderr).not.toContain(decodeURIComponent(new URL(s.clickhouseUrl).password));
}

async function exitOf(run: CliRun): Promise<number | null> {
  return (await run.exit).code;
}

describe('the CLI exits with the code and the one line the README promises', () => {
  let env: Record<string, string>;
  let pool: pg.Pool;

  beforeAll(() => {
    env = envFor('server', 'it_cli_messages', 'it-cli-messages');
    pool = pgPool();
  });
  afterAll(async () => {
    await pool?.end();
  });

  it('a cron the Temporal server refuses is a usage error (exit 2) naming --cron', async () => {
    const run = runCli(['schedule', 'create', 'cli_msg_cron', '--cron', '61 * * * *'], env);
    expect(await exitOf(run)).toBe(2);
    expectOneLine(run, /^pg2ch: --cron "61 \* \* \* \*" is not a valid cadence: Minute is not in range \[0-59\]$/);
  });

  it('schedule update with a bad cron is refused the same way, and the schedule keeps its cadence', async () => {
    const create = runCli(['schedule', 'create', 'cli_msg_cron2', '--cron', '0 * * * *', '--paused'], env);
    expect(await exitOf(create), create.stderr()).toBe(0);
    try {
      const run = runCli(['schedule', 'update', 'cli_msg_cron2', '--cron', '0 25 * * *'], env);
      expect(await exitOf(run)).toBe(2);
      expectOneLine(run, /^pg2ch: --cron "0 25 \* \* \*" is not a valid cadence: .*Hour/);
      const described = runCli(['schedule', 'describe', 'cli_msg_cron2', '--json'], env);
      expect(await exitOf(described)).toBe(0);
      expect(JSON.parse(described.stdout()).paused).toBe(true);
    } finally {
      await runCli(['schedule', 'delete', 'cli_msg_cron2'], env).exit;
    }
  });

  it.each([
    [['sync', 'a"b', '--once'], /table name "a\\"b" has an unclosed double quote/],
    [['verify', 'a.b.c'], /table name "a\.b\.c" is not of the form table or schema\.table/],
    [['backfill', 'a..b'], /table name "a\.\.b" is not of the form table or schema\.table/],
    [['status', '"x'], /table name "\\"x" has an unclosed double quote/],
    [['schedule', 'create', '.t', '--every', '5m'], /table name "\.t" is not of the form table or schema\.table/],
  ])('a malformed table name is a usage error (exit 2): %j', async (args, pattern) => {
    const run = runCli(args, env);
    expect(await exitOf(run)).toBe(2);
    expectOneLine(run, pattern);
  });

  it('a raw # in the PostgreSQL password is a usage error saying to percent-encode it', async () => {
    const url = new URL(services().pgUrl);
    const raw = `postgres://${url.username}:pw#1@${url.host}${url.pathname}`;
    const run = runCli(['worker'], { ...env, PG_URL: raw });
    expect(await exitOf(run)).toBe(2);
    expectOneLine(run, /^pg2ch: PG_URL is not a valid URL: percent-encode special characters in the user and password \(@ as %40, .*# as %23, % as %25\)$/);
  });

  it('sslmode=require prints the one real error and no driver warning', async () => {
    const run = runCli(['worker'], { ...env, PG_URL: `${services().pgUrl}?sslmode=require` });
    expect(await exitOf(run)).toBe(1);
    expect(run.stderr()).not.toMatch(/SECURITY WARNING|Warning:/);
    expectOneLine(run, /^pg2ch: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/pg2ch_test \(PG_URL\): The server does not support SSL connections$/);
  });

  describe('a web server at CLICKHOUSE_URL is named as not ClickHouse', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      // Like python -m http.server: GET serves a page, POST (a query) is an HTML error.
      server = createServer((req, res) => {
        req.resume();
        if (req.method === 'POST') {
          res.writeHead(501, { 'content-type': 'text/html' });
          res.end('<!DOCTYPE HTML>\n<html lang="en">\n<head>\n<title>Error response</title>\n</head>\n<body><h1>Error response</h1><p>Error code: 501</p></body>\n</html>\n');
        } else {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<!DOCTYPE HTML>\n<html><head><title>Directory listing for /</title></head><body></body></html>\n');
        }
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      await new Promise((r) => server?.close(r));
    });

    it('an HTML error page', async () => {
      const run = runCli(['worker'], { ...env, CLICKHOUSE_URL: `http://u:secret-pw@127.0.0.1:${port}` });
      expect(await exitOf(run)).toBe(1);
      expectOneLine(
        run,
        new RegExp(`^pg2ch: cannot use ClickHouse at http://127\\.0\\.0\\.1:${port} \\(CLICKHOUSE_URL\\): it is not a ClickHouse server; set CLICKHOUSE_URL to ClickHouse's HTTP interface .*: it answered with a web page \\("Error response"\\)$`),
      );
      expect(run.stderr()).not.toMatch(/DOCTYPE|secret-pw/);
    });

    it('a 200 answer without ClickHouse headers', async () => {
      // Every request of this one is answered 200 with a page, whatever the method.
      const ok = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('{"v":"1.0"}\n');
      });
      const okPort = await freePort();
      await new Promise<void>((resolve) => ok.listen(okPort, '127.0.0.1', resolve));
      try {
        const run = runCli(['worker'], { ...env, CLICKHOUSE_URL: `http://127.0.0.1:${okPort}` });
        expect(await exitOf(run)).toBe(1);
        expectOneLine(run, /\(CLICKHOUSE_URL\): it is not a ClickHouse server; .*: its answer has no X-ClickHouse-\* headers$/);
      } finally {
        await new Promise((r) => ok.close(r));
      }
    });
  });

  describe.each<Target>(['server', 'embedded'])('verify of an empty table on the %s', (target) => {
    let worker: RunningWorker;
    let tenv: Record<string, string>;
    const table = `cli_msg_empty_${target}`;

    beforeAll(async () => {
      tenv = envFor(target, `it_cli_empty_${target}`, `it-cli-empty-${target}`);
      worker = await startWorker(tenv);
      await worker.worker.clickhouse.client.command({ query: `DROP TABLE IF EXISTS it_cli_empty_${target}.${table}` });
      await worker.worker.clickhouse.client.command({ query: `DROP TABLE IF EXISTS it_cli_empty_${target}.sync_control` });
      await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, v text)`);
    });
    afterAll(async () => {
      await worker?.stop();
    });

    /** Syncs the (empty) table, so its destination exists with nothing synced. */
    async function syncEmpty() {
      const sync = runCli(['sync', table, '--once'], tenv);
      expect(await exitOf(sync), sync.stderr()).toBe(0);
    }

    it('synced empty, it is equal (exit 0) and says so', async () => {
      await syncEmpty();
      const run = runCli(['verify', table], tenv);
      expect(await exitOf(run), run.stderr()).toBe(0);
      expect(run.stderr()).toBe('');
      expect(run.stdout()).toContain(`verified ${table}: PostgreSQL and ClickHouse are equal: neither has a row\n`);
    });

    it('existing empty in both with no sync_control at all, it is equal too', async () => {
      await syncEmpty();
      await worker.worker.clickhouse.client.command({ query: `DROP TABLE it_cli_empty_${target}.sync_control` });
      const run = runCli(['verify', table], tenv);
      expect(await exitOf(run), run.stderr()).toBe(0);
      expect(run.stdout()).toContain(`verified ${table}: PostgreSQL and ClickHouse are equal: neither has a row\n`);
    });

    it('with rows in PostgreSQL and nothing synced, says to sync first', async () => {
      await syncEmpty();
      await pool.query(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`);
      try {
        const run = runCli(['verify', table], tenv);
        expect(await exitOf(run)).toBe(1);
        expectOneLine(run, new RegExp(`^pg2ch: verify of ${table} failed: nothing of ${table} was synced yet while PostgreSQL has rows to compare; run pg2ch sync ${table} first, or give --to-id$`));
      } finally {
        await pool.query(`DELETE FROM ${table}`);
      }
    });

    it('a row only ClickHouse holds is not hidden by the empty source', async () => {
      await syncEmpty();
      await worker.worker.clickhouse.client.command({ query: `INSERT INTO it_cli_empty_${target}.${table} (id, v) VALUES (7, 'x')` });
      const run = runCli(['verify', table], tenv);
      expect(await exitOf(run)).toBe(1);
      expect(run.stdout()).toMatch(new RegExp(`verified ${table}: 1 ranges differ over ids \\(start, 7\\] \\(0 rows in PostgreSQL\\)`));
    });
  });

  describe('a PG2CH_CHDB_PATH held by another process', () => {
    let dir: string;
    let first: CliRun | undefined;
    let eenv: Record<string, string>;
    beforeAll(() => {
      dir = join(mkdtempSync(join(services().workDir, 'chdb-lock-')), 'engine');
      eenv = { ...envFor('embedded', 'it_cli_lock', 'it-cli-lock'), PG2CH_CHDB_PATH: dir };
    });
    afterAll(async () => {
      if (first && first.child.exitCode === null) {
        first.child.kill('SIGKILL');
        await first.exit;
      }
    });

    it('a second worker says the path is locked, in one line (the engine prints nothing)', async () => {
      first = runCli(['worker'], eenv);
      await waitForOutput(first, /pg2ch worker on task queue/, 120_000);
      const second = runCli(['worker'], eenv);
      expect(await exitOf(second)).toBe(1);
      expectOneLine(
        second,
        new RegExp(`^pg2ch: cannot use the embedded ClickHouse in ${dir} \\(PG2CH_CHDB_PATH\\): PG2CH_CHDB_PATH ${dir} is locked by another process \\(pid ${first.child.pid}: a running pg2ch worker or npm start\\?\\); stop it or set PG2CH_CHDB_PATH to another directory$`),
      );
    });

    it('a lock left by a killed worker does not stop the next one', async () => {
      first!.child.kill('SIGKILL');
      await first!.exit;
      const next = runCli(['worker'], eenv);
      try {
        await waitForOutput(next, /pg2ch worker on task queue/, 120_000);
      } finally {
        next.child.kill('SIGINT');
        await next.exit;
      }
    });
  });
});

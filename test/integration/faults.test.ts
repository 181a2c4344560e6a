import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { startClickHouseServer, type LocalClickHouse } from '../../devstack/clickhouse-server';
import { startEmbeddedPostgres, type LocalPostgres } from '../../devstack/embedded-postgres';
import { freePorts } from '../../devstack/free-port';
import { startTemporalDevServer, type TemporalDevServer } from '../../devstack/temporal-dev-server';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { firstValue, services } from '../support/harness';

// Faults against services of this file's own, so stopping one disturbs no
// other test: PostgreSQL, the Debian ClickHouse server (no dedup tokens, so
// plain count() is exact only if nothing is inserted twice) and a Temporal
// dev server persisted in its database file.
const DB = 'faults';
const PG_PASSWORD = 'pg-fault-pw-77';
const CH_PASSWORD = 'ch-fault-pw-88';

describe('faults: no loss and no duplicates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg2ch-faults-'));
  chmodSync(dir, 0o755);
  let pgServer: LocalPostgres;
  let chServer: LocalClickHouse;
  let temporal: TemporalDevServer;
  let ports: { pg: number; temporal: number; ui: number };
  let pool: pg.Pool;
  let ch: ClickHouseClient;
  let env: Record<string, string>;
  const procs: CliRun[] = [];

  const startPg = () => startEmbeddedPostgres({ dataDir: join(dir, 'pg', 'data'), database: 'faults', password: PG_PASSWORD, port: ports.pg });
  const startTemporal = () =>
    startTemporalDevServer({ dbFile: join(dir, 'temporal.db'), logFile: join(dir, 'temporal.log'), port: ports.temporal, uiPort: ports.ui, headless: true });

  beforeAll(async () => {
    const [p, t, u] = await freePorts(3);
    ports = { pg: p!, temporal: t!, ui: u! };
    [pgServer, chServer, temporal] = await Promise.all([
      startPg(),
      startClickHouseServer({ dir: join(dir, 'clickhouse'), user: 'pg2ch', password: CH_PASSWORD }),
      startTemporal(),
    ]);
    pool = new pg.Pool({ connectionString: pgServer.url, max: 3 });
    pool.on('error', () => {});
    // Polled before its tables exist and while the server is down: failures are expected, not logged.
    ch = createClient({ url: `http://127.0.0.1:${chServer.httpPort}`, username: 'pg2ch', password: CH_PASSWORD, log: { level: ClickHouseLogLevel.OFF } });
    env = {
      PG_URL: pgServer.url,
      CLICKHOUSE_URL: chServer.url,
      CLICKHOUSE_DATABASE: DB,
      TEMPORAL_ADDRESS: temporal.address,
      PG2CH_TASK_QUEUE: 'faults',
      PG2CH_WORKFLOW_BUNDLE: services().workflowBundlePath,
    };
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await pool?.end().catch(() => {});
    await ch?.close();
    await Promise.allSettled([pgServer?.stop(), chServer?.stop(), temporal?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const one = (sql: string) => firstValue(ch, sql);
  const count = (table: string) => one(`SELECT toString(count()) AS n FROM ${DB}.${table}`).catch(() => '0');
  const checkpoints = (table: string) => one(`SELECT toString(count()) AS n FROM ${DB}.sync_control WHERE table_name = '${table}'`).catch(() => '0');

  async function seeded(table: string, rows: number): Promise<void> {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: rows, table });
  }

  let active: CliRun | undefined;
  async function worker(): Promise<CliRun> {
    const w = runCli(['worker'], env);
    procs.push(w);
    await waitForOutput(w, /pg2ch worker on task queue faults/);
    active = w;
    return w;
  }
  const ensureWorker = async () => (active && active.child.exitCode === null && active.child.signalCode === null ? active : worker());

  /** The sync's exit, or a failure that shows what the worker was doing. */
  async function finished(sync: CliRun, timeoutMs = 150_000): Promise<void> {
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs));
    const done = await Promise.race([sync.exit, timer]);
    if (done === 'timeout') throw new Error(`sync still running after ${timeoutMs} ms; worker output:\n${active?.stdout().slice(-4000)}\n${active?.stderr().slice(-4000)}`);
    expect(done.code, sync.stderr()).toBe(0);
  }

  /** Waits until `probe` says so, polling. */
  async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Plain count and distinct ids equal PostgreSQL's, and pg2ch verify agrees. */
  async function expectExact(table: string, rows: number): Promise<void> {
    expect(await count(table)).toBe(String(rows));
    expect(await one(`SELECT toString(uniqExact(id)) AS n FROM ${DB}.${table}`)).toBe(String(rows));
    const verify = runCli(['verify', table], env);
    procs.push(verify);
    expect((await verify.exit).code, verify.stdout() + verify.stderr()).toBe(0);
    expect(verify.stdout()).toMatch(new RegExp(`verified ${table}: PostgreSQL and ClickHouse are equal over ids \\(start, ${rows}\\]: ${rows} rows`));
  }

  it('the worker SIGKILLed 3 times at random points of a 500k-row sync', async () => {
    await seeded('kill_logs', 500_000);
    let w = await worker();
    const sync = runCli(['sync', 'kill_logs', '--once', '--chunk-rows', '20000'], env);
    procs.push(sync);
    for (let kill = 0; kill < 3; kill++) {
      // Kill while the sync is moving: after its next checkpoint, at a random moment.
      const seen = Number(await checkpoints('kill_logs'));
      await until(`progress before kill ${kill + 1}`, async () => Number(await checkpoints('kill_logs')) > seen);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
      w.child.kill('SIGKILL');
      await w.exit;
      expect(Number(await checkpoints('kill_logs'))).toBeLessThan(25);
      w = await worker();
    }
    const done = await sync.exit;
    expect(done.code, sync.stderr()).toBe(0);
    expect(sync.stdout()).toMatch(/synced kill_logs: \d+ rows copied/);
    await expectExact('kill_logs', 500_000);
  });

  it('ClickHouse stopped mid-insert and started 20 s later', async () => {
    await seeded('ch_down_logs', 200_000);
    await ensureWorker();
    const sync = runCli(['sync', 'ch_down_logs', '--once', '--chunk-rows', '20000'], env);
    procs.push(sync);
    await until('the first chunk in ClickHouse', async () => Number(await count('ch_down_logs')) > 0);
    await chServer.restart(20_000);
    await finished(sync);
    await expectExact('ch_down_logs', 200_000);
  });

  it('PostgreSQL restarted mid-COPY', async () => {
    await seeded('pg_down_logs', 200_000);
    await ensureWorker();
    const sync = runCli(['sync', 'pg_down_logs', '--once', '--chunk-rows', '20000'], env);
    procs.push(sync);
    await until('the first chunk in ClickHouse', async () => Number(await count('pg_down_logs')) > 0);
    await pgServer.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    pgServer = await startPg();
    await finished(sync);
    await expectExact('pg_down_logs', 200_000);
  });

  it('the Temporal server restarted mid-sync: the workflow continues from its history', async () => {
    await seeded('temporal_down_logs', 200_000);
    await ensureWorker();
    const start = runCli(['sync', 'temporal_down_logs', '--chunk-rows', '20000'], env);
    procs.push(start);
    expect((await start.exit).code, start.stderr()).toBe(0);
    await until('the first chunk in ClickHouse', async () => Number(await count('temporal_down_logs')) > 0);
    await temporal.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    temporal = await startTemporal();
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = new Client({ connection });
      const result = await client.workflow.getHandle('sync:temporal_down_logs').result();
      expect(result).toMatchObject({ lastId: '200000' });
    } finally {
      await connection.close();
    }
    await expectExact('temporal_down_logs', 200_000);
  });
});

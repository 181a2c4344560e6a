import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../../core/cdc';
import { startClickHouseServer, type LocalClickHouse } from '../../devstack/clickhouse-server';
import { startEmbeddedPostgres, type LocalPostgres } from '../../devstack/embedded-postgres';
import { freePorts } from '../../devstack/free-port';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { services, temporalClient } from '../support/harness';

// A stream under faults, against a PostgreSQL and a Debian ClickHouse server
// of this file's own (so restarting them disturbs no other test): writers in
// several sessions (inserts, updates, primary-key updates, deletes,
// rollbacks, an unchanged 100 kB TOAST value), the worker SIGKILLed three
// times, PostgreSQL restarted, ClickHouse stopped for 20 s. After each kill
// the slot has confirmed no more than cdc_control holds; at the end FINAL
// equals PostgreSQL row for row.
const DB = 'cdc_faults';
const TABLE = 'cdc_fault_rows';
const STREAM = 'faults';

describe('cdc stream under faults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg2ch-cdc-faults-'));
  chmodSync(dir, 0o755);
  let pgServer: LocalPostgres;
  let chServer: LocalClickHouse;
  let pgPort: number;
  let pool: pg.Pool;
  let ch: ClickHouseClient;
  let env: Record<string, string>;
  const procs: CliRun[] = [];
  const configPath = join(dir, 'pg2ch.config.yaml');
  const startPg = () => startEmbeddedPostgres({ dataDir: join(dir, 'pg', 'data'), database: 'faults', password: 'pg-cdc-fault-pw', port: pgPort });

  beforeAll(async () => {
    [pgPort] = (await freePorts(1)) as [number];
    [pgServer, chServer] = await Promise.all([startPg(), startClickHouseServer({ dir: join(dir, 'clickhouse'), user: 'pg2ch', password: 'ch-cdc-fault-pw' })]);
    pool = new pg.Pool({ connectionString: pgServer.url, max: 5 });
    pool.on('error', () => {});
    ch = createClient({ url: `http://127.0.0.1:${chServer.httpPort}`, username: 'pg2ch', password: 'ch-cdc-fault-pw', log: { level: ClickHouseLogLevel.OFF } });
    await pool.query(`CREATE TABLE ${TABLE} (id int8 PRIMARY KEY, v int4 NOT NULL, body text)`);
    await pool.query(`ALTER TABLE ${TABLE} REPLICA IDENTITY FULL`);
    await pool.query(`CREATE SEQUENCE ids START 1000`);
    await pool.query(`INSERT INTO ${TABLE} SELECT g, 0, CASE WHEN g <= 3 THEN repeat(md5(g::text), 3200) END FROM generate_series(1, 200) g`);
    writeFileSync(configPath, `tables:\n  ${TABLE}: {mode: cdc, stream: ${STREAM}}\n`);
    env = {
      PG_URL: pgServer.url,
      CLICKHOUSE_URL: chServer.url,
      CLICKHOUSE_DATABASE: DB,
      TEMPORAL_ADDRESS: services().temporalAddress,
      PG2CH_TASK_QUEUE: 'cdc-faults',
      PG2CH_WORKFLOW_BUNDLE: services().workflowBundlePath,
    };
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    // Left running only by a failure above: no worker would serve a stop.
    const client = await temporalClient();
    await client.workflow.getHandle(`cdc:${STREAM}`).terminate('test over').catch(() => {});
    await client.connection.close();
    await pool?.end().catch(() => {});
    await ch?.close();
    await Promise.allSettled([pgServer?.stop(), chServer?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function worker(): Promise<CliRun> {
    const w = runCli(['worker'], env);
    procs.push(w);
    await waitForOutput(w, /pg2ch worker on task queue cdc-faults/);
    return w;
  }

  const chValue = async (sql: string) => ((await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string }>())[0]?.n ?? null);
  const checkpoints = () => chValue(`SELECT toString(count()) AS n FROM ${DB}.cdc_control WHERE kind = 'batch'`).catch(() => '0');

  /** The slot never confirmed past what ClickHouse checkpointed. */
  async function slotNotAhead(): Promise<void> {
    const slot = (await pool.query<{ l: string }>(`SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = 'pg2ch_${STREAM}'`)).rows[0]!.l;
    const held = await chValue(`SELECT toString(max(lsn)) AS n FROM ${DB}.cdc_control WHERE stream = '${STREAM}' AND kind = 'batch'`);
    if (held === null || held === '0') return;
    expect(parseLsn(slot) <= BigInt(held), `slot ${slot} vs checkpoint ${held}`).toBe(true);
  }

  let writing = true;
  async function writer(n: number): Promise<void> {
    const pick = `(SELECT id FROM ${TABLE} WHERE id > 3 ORDER BY random() LIMIT 1)`;
    const ops = [
      `INSERT INTO ${TABLE} VALUES (nextval('ids'), ${n}, 'w${n}')`,
      `UPDATE ${TABLE} SET v = v + 1 WHERE id = ${pick}`,
      `UPDATE ${TABLE} SET id = nextval('ids') WHERE id = ${pick}`,
      `DELETE FROM ${TABLE} WHERE id = ${pick}`,
      // The TOASTed bodies are left unchanged by updates of another column.
      `UPDATE ${TABLE} SET v = v + 1 WHERE id = ${1 + (n % 3)}`,
    ];
    while (writing) {
      const c = await pool.connect().catch(() => undefined);
      if (!c) {
        await new Promise((r) => setTimeout(r, 300));
        continue;
      }
      // A restart ends checked-out connections too: the pool's handler covers idle ones only.
      const ignore = () => {};
      c.on('error', ignore);
      try {
        await c.query('BEGIN');
        for (let i = 0; i < 1 + Math.floor(Math.random() * 4); i++) await c.query(ops[Math.floor(Math.random() * ops.length)]!);
        await c.query(Math.random() < 0.15 ? 'ROLLBACK' : 'COMMIT');
      } catch {
        await c.query('ROLLBACK').catch(() => {});
      } finally {
        c.off('error', ignore);
        c.release();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function progressThenKill(w: CliRun): Promise<void> {
    const seen = Number(await checkpoints());
    const deadline = Date.now() + 90_000;
    while (Number(await checkpoints()) <= seen + 1) {
      if (Date.now() > deadline) throw new Error(`no checkpoint; worker:\n${w.stdout().slice(-3000)}\n${w.stderr().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
    w.child.kill('SIGKILL');
    await w.exit;
    await slotNotAhead();
  }

  it('ends equal to PostgreSQL after kills and restarts, the slot never ahead of ClickHouse', async () => {
    let w = await worker();
    const start = runCli(['cdc', 'start', '--config', configPath], env);
    procs.push(start);
    expect((await start.exit).code, start.stdout() + start.stderr()).toBe(0);
    expect(start.stdout()).toContain(`stream ${STREAM}: streaming ${TABLE}`);
    const writers = [1, 2, 3].map(writer);

    await progressThenKill(w);
    await pgServer.stop();
    await new Promise((r) => setTimeout(r, 2_000));
    pgServer = await startPg();
    w = await worker();

    await progressThenKill(w);
    w = await worker();
    await new Promise((r) => setTimeout(r, 2_000));
    await chServer.restart(20_000);

    await progressThenKill(w);
    w = await worker();

    writing = false;
    await Promise.all(writers);
    const pgRows = async () =>
      (await pool.query<{ r: string }>(`SELECT id || '|' || v || '|' || md5(coalesce(body, '')) AS r FROM ${TABLE} ORDER BY id`)).rows.map((x) => x.r);
    const chRows = async () =>
      (await (await ch.query({ query: `SELECT concat(toString(id), '|', toString(v), '|', lower(hex(MD5(ifNull(body, ''))))) AS r FROM ${DB}.${TABLE} FINAL WHERE _deleted = 0 ORDER BY id`, format: 'JSONEachRow' })).json<{ r: string }>()).map((x) => x.r);
    const want = await pgRows();
    const deadline = Date.now() + 120_000;
    let got: string[] = [];
    while (Date.now() < deadline) {
      got = await chRows().catch(() => []);
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(got).toEqual(want);
    expect(want.length).toBeGreaterThan(100);
    await slotNotAhead();
    const stop = runCli(['cdc', 'stop', '--config', configPath], env);
    procs.push(stop);
    expect((await stop.exit).code, stop.stderr()).toBe(0);
    expect(stop.stdout()).toContain(`stream ${STREAM} stopped`);
    await slotNotAhead();
    w.child.kill('SIGTERM');
    await w.exit;
  }, 300_000);
});

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackfill } from '../../client/commands/backfill';
import { startSync } from '../../client/commands/sync';
import { runVerify } from '../../client/commands/verify';
import { readTemporalConfig } from '../../core/config';
import type { TableSettings } from '../../core/table-settings';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { startClickHouseCluster, type LocalCluster } from '../../devstack/clickhouse-cluster';
import type { LocalClickHouse } from '../../devstack/clickhouse-server';
import { firstValue, pgPool, services, startWorker, temporalClient, type RunningWorker } from '../support/harness';

// A real cluster of this file's own (started here, not in the global setup,
// so other files do not pay for it): Debian's ZooKeeper and two
// clickhouse-server 18.16 replicas of one shard, cluster `default`.
const CH_PASSWORD = 'ch-cluster-pw-41';

describe('a ClickHouse cluster: two replicas of one shard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg2ch-cluster-'));
  chmodSync(dir, 0o755);
  let cluster: LocalCluster;
  let a: LocalClickHouse;
  let b: LocalClickHouse;
  let chA: ClickHouseClient;
  let chB: ClickHouseClient;
  let pool: pg.Pool;
  let client: Client;
  const workers: RunningWorker[] = [];

  const clientOf = (s: LocalClickHouse) =>
    createClient({ url: `http://127.0.0.1:${s.httpPort}`, username: 'pg2ch', password: CH_PASSWORD, log: { level: ClickHouseLogLevel.OFF } });

  beforeAll(async () => {
    cluster = await startClickHouseCluster({ dir, user: 'pg2ch', password: CH_PASSWORD, shards: 1, replicas: 2 });
    [a, b] = cluster.all as [LocalClickHouse, LocalClickHouse];
    chA = clientOf(a);
    chB = clientOf(b);
    pool = pgPool();
    client = await temporalClient();
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) await w.stop().catch(() => {});
    await client?.connection.close();
    await pool?.end();
    await Promise.allSettled([chA?.close(), chB?.close()]);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function envOf(database: string, queue: string, extra: Record<string, string> = {}, url = a.url): Record<string, string> {
    const s = services();
    return {
      PG_URL: s.pgUrl,
      CLICKHOUSE_URL: url,
      CLICKHOUSE_DATABASE: database,
      TEMPORAL_ADDRESS: s.temporalAddress,
      PG2CH_TASK_QUEUE: queue,
      PG2CH_WORKFLOW_BUNDLE: s.workflowBundlePath,
      ...extra,
    };
  }

  async function worker(env: Record<string, string>): Promise<RunningWorker> {
    const w = await startWorker(env);
    workers.push(w);
    return w;
  }

  const sync = (env: Record<string, string>, table: string, settings: TableSettings = {}, chunkRows = 2000) =>
    startSync(client, readTemporalConfig(env), table, { once: true, chunkRows, settings }, () => {});

  const count = (ch: ClickHouseClient, t: string) => firstValue(ch, `SELECT toString(count()) AS n FROM ${t}`);
  const distinct = (ch: ClickHouseClient, t: string) => firstValue(ch, `SELECT toString(uniqExact(id)) AS n FROM ${t}`);
  const engineOf = (ch: ClickHouseClient, db: string, t: string) => firstValue(ch, `SELECT engine AS n FROM system.tables WHERE database = '${db}' AND name = '${t}'`);
  const syncReplica = (ch: ClickHouseClient, t: string) => ch.command({ query: `SYSTEM SYNC REPLICA ${t}` });

  async function seeded(table: string, rows: number): Promise<void> {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: rows, table });
  }

  /** Both replicas hold exactly PostgreSQL's rows, once each. */
  async function expectExactOnBoth(database: string, table: string): Promise<void> {
    const want = (await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]!.n;
    for (const [name, ch] of [['A', chA], ['B', chB]] as const) {
      // A replica just restarted may not have read the replication log yet: SYNC REPLICA can return before it has.
      const deadline = Date.now() + 60_000;
      let got = '';
      do {
        await syncReplica(ch, `${database}.${table}`).catch(() => {});
        got = await count(ch, `${database}.${table}`);
        if (got === want) break;
        await new Promise((r) => setTimeout(r, 500));
      } while (Date.now() < deadline);
      expect(`${name}: ${got}`).toBe(`${name}: ${want}`);
      expect(`${name}: ${await distinct(ch, `${database}.${table}`)}`).toBe(`${name}: ${want}`);
    }
  }

  it('CLICKHOUSE_CLUSTER: the first sync and an incremental one are exact on both replicas; the control tables are replicated', async () => {
    const db = 'cl_env';
    await seeded('cl_logs', 10_000);
    const env = envOf(db, 'cl-env', { CLICKHOUSE_CLUSTER: 'default' });
    const w = await worker(env);
    expect((await sync(env, 'cl_logs'))!.rows).toBe(10_000);
    await expectExactOnBoth(db, 'cl_logs');
    for (const ch of [chA, chB]) {
      expect(await engineOf(ch, db, 'cl_logs')).toBe('ReplicatedReplacingMergeTree');
      expect(await engineOf(ch, db, 'sync_control')).toBe('ReplicatedMergeTree');
      expect(await engineOf(ch, db, 'sync_recheck')).toBe('ReplicatedMergeTree');
    }
    await seedActivityLogs(pool, { firstId: 10_001, count: 3_000, table: 'cl_logs' });
    expect((await sync(env, 'cl_logs'))!.rows).toBe(3_000);
    await expectExactOnBoth(db, 'cl_logs');
    await w.stop();
    workers.splice(workers.indexOf(w), 1);
  }, 240_000);

  it('a replica down: a worker starts and a sync of an existing table runs, with no ON CLUSTER wait; a new table is one clear error naming the host', async () => {
    const db = 'cl_env';
    const env = envOf(db, 'cl-down', { CLICKHOUSE_CLUSTER: 'default' });
    await b.stop();
    try {
      const started = Date.now();
      const w = await worker(env);
      await seedActivityLogs(pool, { firstId: 13_001, count: 1_000, table: 'cl_logs' });
      expect((await sync(env, 'cl_logs'))!.rows).toBe(1_000);
      // ON CLUSTER would wait distributed_ddl_task_timeout (180 s) for the down replica.
      expect(Date.now() - started).toBeLessThan(90_000);
      await seeded('cl_new', 100);
      await expect(sync(env, 'cl_new')).rejects.toThrow(/cannot create cl_env\.cl_new on cluster default: a host is down \(127\.0\.0\.1:\d+ \(shard 1, replica 2\): Connection refused/);
      expect(Date.now() - started).toBeLessThan(120_000);
      await w.stop();
      workers.splice(workers.indexOf(w), 1);
    } finally {
      await b.restart();
    }
    // Back up, the replica catches up from the other: both exact.
    await expectExactOnBoth(db, 'cl_logs');
  }, 240_000);

  it('the config route: cluster in the table settings, CLICKHOUSE_CLUSTER unset: database, control tables and the table on every replica; a replica missing the table gets it', async () => {
    const db = 'cl_cfg';
    await seeded('cl_cfg_logs', 5_000);
    const env = envOf(db, 'cl-cfg');
    const settings: TableSettings = { engine: 'ReplicatedMergeTree', cluster: 'default' };
    const w = await worker(env);
    expect((await sync(env, 'cl_cfg_logs', settings))!.rows).toBe(5_000);
    await expectExactOnBoth(db, 'cl_cfg_logs');
    for (const ch of [chA, chB]) {
      expect(await engineOf(ch, db, 'cl_cfg_logs')).toBe('ReplicatedMergeTree');
      expect(await engineOf(ch, db, 'sync_control')).toBe('ReplicatedMergeTree');
      expect(await engineOf(ch, db, 'sync_recheck')).toBe('ReplicatedMergeTree');
    }
    // The table dropped on one replica: the next run creates it there, and it fetches the rows.
    await chB.command({ query: `DROP TABLE ${db}.cl_cfg_logs` });
    await seedActivityLogs(pool, { firstId: 5_001, count: 500, table: 'cl_cfg_logs' });
    expect((await sync(env, 'cl_cfg_logs', settings))!.rows).toBe(500);
    await expectExactOnBoth(db, 'cl_cfg_logs');
    await w.stop();
    workers.splice(workers.indexOf(w), 1);
  }, 240_000);

  it('verify and a 4-partition backfill on the cluster: equal, exact on both replicas', async () => {
    const db = 'cl_env';
    await seeded('cl_bf', 20_000);
    const env = envOf(db, 'cl-bf', { CLICKHOUSE_CLUSTER: 'default' });
    const w = await worker(env);
    const temporal = readTemporalConfig(env);
    const done = await startBackfill(client, temporal, 'cl_bf', { partitions: 4, parallel: 2, chunkRows: 2000, progress: 'plain' }, () => {});
    expect(done!.rows).toBe(20_000);
    await expectExactOnBoth(db, 'cl_bf');
    const v = await runVerify(client, temporal, 'cl_bf', { progress: 'plain' }, () => {});
    expect(v).toMatchObject({ equal: true, rows: 20_000 });
    // A row changed in PostgreSQL: verify says so (it can fail).
    await pool.query(`UPDATE cl_bf SET event_name = 'changed' WHERE id = 777`);
    expect((await runVerify(client, temporal, 'cl_bf', { progress: 'plain' }, () => {})).equal).toBe(false);
    await w.stop();
    workers.splice(workers.indexOf(w), 1);
  }, 240_000);

  /** Resolves once `table` has at least `n` checkpoints on the replica `ch`. */
  async function checkpointsReach(ch: ClickHouseClient, db: string, table: string, n: number): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const got = await firstValue(ch, `SELECT toString(count()) AS n FROM ${db}.sync_control WHERE table_name = '${table}'`).catch(() => '0');
      if (Number(got) >= n) return;
      if (Date.now() > deadline) throw new Error(`${table}: ${got} checkpoints after 120 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('a replica killed mid-sync: the sync goes on on the other, and the killed one catches up when back', async () => {
    const db = 'cl_env';
    await seeded('cl_kill', 20_000);
    const env = envOf(db, 'cl-kill', { CLICKHOUSE_CLUSTER: 'default' });
    const w = await worker(env);
    // The table exists everywhere before the kill (creating it needs every host).
    expect((await sync(env, 'cl_kill', {}, 2000))!.rows).toBe(20_000);
    await seedActivityLogs(pool, { firstId: 20_001, count: 40_000, table: 'cl_kill' });
    const running = sync(env, 'cl_kill', {}, 2000);
    await checkpointsReach(chA, db, 'cl_kill', 12);
    await b.kill();
    try {
      expect((await running)!.rows).toBeGreaterThan(0);
    } finally {
      await b.restart();
    }
    await expectExactOnBoth(db, 'cl_kill');
    await w.stop();
    workers.splice(workers.indexOf(w), 1);
  }, 240_000);

  it('failover: CLICKHOUSE_URL lists both replicas; the one in use is killed mid-sync and the sync finishes on the other, exact and without duplicates', async () => {
    const db = 'cl_env';
    await seeded('cl_fail', 60_000);
    const env = envOf(db, 'cl-fail', { CLICKHOUSE_CLUSTER: 'default' }, `${a.url},127.0.0.1:${b.httpPort}`);
    const w = await worker(env);
    const running = sync(env, 'cl_fail', {}, 2000);
    await checkpointsReach(chA, db, 'cl_fail', 5);
    await a.kill();
    let result: Awaited<typeof running>;
    try {
      result = await running;
      // Finished while A was down, on B, without a duplicate. B may still
      // lack a part only A held when it died (replication is asynchronous):
      // the copy the sync made of that chunk again was the same block, which
      // ZooKeeper's deduplication dropped, and B fetches A's part once A is back.
      const onB = Number(await distinct(chB, `${db}.cl_fail`));
      expect(onB).toBeGreaterThan(30_000);
      expect(await count(chB, `${db}.cl_fail`)).toBe(String(onB));
    } finally {
      await a.restart();
    }
    expect(result!.rows).toBeGreaterThan(0);
    await expectExactOnBoth(db, 'cl_fail');
    // An incremental run on the same worker, A back: exact on both.
    await seedActivityLogs(pool, { firstId: 60_001, count: 2_000, table: 'cl_fail' });
    await sync(env, 'cl_fail', {}, 2000);
    await expectExactOnBoth(db, 'cl_fail');
    await w.stop();
    workers.splice(workers.indexOf(w), 1);
  }, 300_000);
});

describe('a ClickHouse cluster: two shards', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg2ch-shards-'));
  chmodSync(dir, 0o755);
  let cluster: LocalCluster;
  let shards: ClickHouseClient[];
  let pool: pg.Pool;
  let client: Client;
  let w: RunningWorker | undefined;

  beforeAll(async () => {
    cluster = await startClickHouseCluster({ dir, user: 'pg2ch', password: CH_PASSWORD, name: 'sharded', shards: 2, replicas: 1 });
    shards = cluster.all.map((s) =>
      createClient({ url: `http://127.0.0.1:${s.httpPort}`, username: 'pg2ch', password: CH_PASSWORD, log: { level: ClickHouseLogLevel.OFF } }));
    pool = pgPool();
    client = await temporalClient();
  }, 180_000);

  afterAll(async () => {
    await w?.stop().catch(() => {});
    await client?.connection.close();
    await pool?.end();
    await Promise.allSettled((shards ?? []).map((c) => c.close()));
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a Distributed table over each shard\'s local table: rows spread by the row key, sync, incremental, verify and backfill read every shard', async () => {
    const db = 'cl_shards';
    const s = services();
    const env = {
      PG_URL: s.pgUrl, CLICKHOUSE_URL: cluster.all[0]!.url, CLICKHOUSE_DATABASE: db, CLICKHOUSE_CLUSTER: 'sharded',
      TEMPORAL_ADDRESS: s.temporalAddress, PG2CH_TASK_QUEUE: 'cl-shards', PG2CH_WORKFLOW_BUNDLE: s.workflowBundlePath,
    };
    await pool.query('DROP TABLE IF EXISTS sh_logs');
    await createActivityLogs(pool, 'sh_logs');
    await seedActivityLogs(pool, { firstId: 1, count: 10_000, table: 'sh_logs' });
    w = await startWorker(env);
    const temporal = readTemporalConfig(env);
    expect((await startSync(client, temporal, 'sh_logs', { once: true, chunkRows: 2000 }, () => {}))!.rows).toBe(10_000);
    const n = (ch: ClickHouseClient, t: string) => firstValue(ch, `SELECT toString(count()) AS n FROM ${db}.${t}`).then(Number);
    expect(await firstValue(shards[0]!, `SELECT engine AS n FROM system.tables WHERE database = '${db}' AND name = 'sh_logs'`)).toBe('Distributed');
    const locals = await Promise.all(shards.map((c) => n(c, 'sh_logs_local')));
    expect(locals.every((x) => x > 1000)).toBe(true);
    expect(locals[0]! + locals[1]!).toBe(10_000);
    // Read through either shard's Distributed table: every row, once.
    for (const c of shards) {
      expect(await n(c, 'sh_logs')).toBe(10_000);
      expect(await firstValue(c, `SELECT toString(uniqExact(id)) AS n FROM ${db}.sh_logs`)).toBe('10000');
      // The watermark is one table replicated to every shard.
      expect(await firstValue(c, `SELECT toString(max(last_max_id)) AS n FROM ${db}.sync_control WHERE table_name = 'sh_logs'`)).toBe('10000');
    }
    await seedActivityLogs(pool, { firstId: 10_001, count: 1_000, table: 'sh_logs' });
    expect((await startSync(client, temporal, 'sh_logs', { once: true, chunkRows: 2000 }, () => {}))!.rows).toBe(1_000);
    expect(await n(shards[1]!, 'sh_logs')).toBe(11_000);
    expect(await runVerify(client, temporal, 'sh_logs', { progress: 'plain' }, () => {})).toMatchObject({ equal: true, rows: 11_000 });
    // A backfill of rows added below the watermark's range end is spread too.
    await seedActivityLogs(pool, { firstId: 20_001, count: 4_000, table: 'sh_logs' });
    const bf = await startBackfill(client, temporal, 'sh_logs', { fromId: '20000', toId: '24000', partitions: 2, parallel: 2, chunkRows: 1000, progress: 'plain' }, () => {});
    expect(bf!.rows).toBe(4_000);
    expect(await n(shards[0]!, 'sh_logs')).toBe(15_000);
    expect(await firstValue(shards[0]!, `SELECT toString(uniqExact(id)) AS n FROM ${db}.sh_logs`)).toBe('15000');
  }, 240_000);

  // Deletes reach the shards' local tables (a Distributed table takes no
  // mutation); each shard's own mutation is waited for before the copy.
  const shardEnv = (queue: string) => {
    const s = services();
    return {
      PG_URL: s.pgUrl, CLICKHOUSE_URL: cluster.all[0]!.url, CLICKHOUSE_DATABASE: 'cl_shards', CLICKHOUSE_CLUSTER: 'sharded',
      TEMPORAL_ADDRESS: s.temporalAddress, PG2CH_TASK_QUEUE: queue, PG2CH_WORKFLOW_BUNDLE: s.workflowBundlePath,
    };
  };
  const temporalOf = () => readTemporalConfig(shardEnv('cl-shards'));
  /** A mutation on one shard's table, waited for as a user would (18.16 has no mutations_sync). */
  async function mutate(c: ClickHouseClient, table: string, what: string): Promise<void> {
    await c.command({ query: `ALTER TABLE ${table} ${what}` });
    const [db, t] = table.split('.');
    for (let i = 0; i < 300; i++) {
      if ((await firstValue(c, `SELECT toString(count()) AS n FROM system.mutations WHERE database = '${db}' AND table = '${t}' AND is_done = 0`)) === '0') return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${what} on ${table} did not finish`);
  }
  const stats = (t: string) => firstValue(shards[1]!, `SELECT concat(toString(count()), '/', toString(uniqExact(id))) AS n FROM cl_shards.${t}`);

  it('a chunk found partly in the sharded table resumes exactly: the cut-short copy is deleted on its shard, the missing rows copied', async () => {
    const t = 'sh_part';
    const settings: TableSettings = { engine: 'MergeTree' };
    await pool.query(`DROP TABLE IF EXISTS ${t}`);
    await createActivityLogs(pool, t);
    await seedActivityLogs(pool, { firstId: 1, count: 3000, table: t });
    w ??= await startWorker(shardEnv('cl-shards'));
    expect(await startSync(client, temporalOf(), t, { once: true, chunkRows: 3000, settings }, () => {})).toMatchObject({ rows: 3000, chunks: 1 });
    // As a cut stream leaves it: the rows past a point gone on every shard, no checkpoint, one row's second copy cut short.
    for (const c of shards) await mutate(c, `cl_shards.${t}_local`, 'DELETE WHERE id > 2000');
    await mutate(shards[0]!, 'cl_shards.sync_control', `DELETE WHERE table_name = '${t}'`);
    await shards[1]!.command({ query: 'SYSTEM SYNC REPLICA cl_shards.sync_control' });
    await shards[0]!.command({
      query: `INSERT INTO cl_shards.${t} (id, created_at, event_name, user_id, properties)
              SELECT id, created_at, event_name, user_id, substring(properties, 1, 5) FROM cl_shards.${t} WHERE id IN (5, 6)`,
      clickhouse_settings: { insert_distributed_sync: 1 },
    });
    expect(await stats(t)).toBe('2002/2000');
    const resumed = await startSync(client, temporalOf(), t, { once: true, chunkRows: 3000, settings }, () => {});
    expect(resumed).toMatchObject({ chunks: 1, lastId: '3000' });
    expect(await stats(t)).toBe('3000/3000');
    expect(await firstValue(shards[0]!, `SELECT toString(count()) AS n FROM cl_shards.${t} WHERE length(properties) <= 5`)).toBe('0');
    expect(await runVerify(client, temporalOf(), t, { progress: 'plain', settings }, () => {})).toMatchObject({ equal: true, rows: 3000 });
  }, 180_000);

  it('updated mode on the sharded table: verify --repair fixes changed rows on their shards', async () => {
    const t = 'sh_acct';
    const settings: TableSettings = { mode: 'updated' };
    await pool.query(`DROP TABLE IF EXISTS ${t}`);
    await pool.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, balance bigint NOT NULL, updated_at timestamptz NOT NULL)`);
    await pool.query(`INSERT INTO ${t} SELECT g, g * 10, '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 400) g`);
    w ??= await startWorker(shardEnv('cl-shards'));
    const sync = () => startSync(client, temporalOf(), t, { once: true, chunkRows: 200, settings }, () => {});
    const verify = (repair = false) => runVerify(client, temporalOf(), t, { progress: 'plain', settings, repair }, () => {});
    expect((await sync())!.rows).toBe(400);
    // Changed behind the watermark: only verify by key finds it.
    await pool.query(`UPDATE ${t} SET balance = 99, updated_at = '2000-01-01' WHERE id IN (7, 8)`);
    expect((await verify()).byKey).toMatchObject({ report: { stale: 2 } });
    const repaired = await verify(true);
    expect(repaired.byKey!.repaired).toMatchObject({ deleted: 2, copied: 2 });
    expect(repaired.equal).toBe(true);
    expect(await firstValue(shards[1]!, `SELECT arrayStringConcat(groupArray(toString(balance)), ',') AS n FROM (SELECT balance FROM cl_shards.${t} FINAL WHERE id IN (7, 8) ORDER BY id)`)).toBe('99,99');

  }, 180_000);

  it('a column PostgreSQL gained reaches every shard\'s local table and the Distributed table; rows match', async () => {
    const t = 'sh_cols';
    await pool.query(`DROP TABLE IF EXISTS ${t}`);
    await createActivityLogs(pool, t);
    await seedActivityLogs(pool, { firstId: 1, count: 1000, table: t });
    w ??= await startWorker(shardEnv('cl-shards'));
    const sync = () => startSync(client, temporalOf(), t, { once: true, chunkRows: 1000 }, () => {});
    expect((await sync())!.rows).toBe(1000);
    await pool.query(`ALTER TABLE ${t} ADD COLUMN note text NOT NULL DEFAULT 'old'`);
    await seedActivityLogs(pool, { firstId: 1001, count: 500, table: t });
    await pool.query(`UPDATE ${t} SET note = 'new' || id WHERE id > 1000`);
    expect((await sync())!.rows).toBe(500);
    for (const c of shards) {
      for (const name of [t, `${t}_local`]) {
        expect(await firstValue(c, `SELECT type AS n FROM system.columns WHERE database = 'cl_shards' AND table = '${name}' AND name = 'note'`)).toBe('String');
      }
    }
    expect(await firstValue(shards[1]!, `SELECT arrayStringConcat(groupArray(note), ',') AS n FROM (SELECT note FROM cl_shards.${t} WHERE id IN (1, 1001) ORDER BY id)`)).toBe('old,new1001');
    expect(await stats(t)).toBe('1500/1500');
    expect(await runVerify(client, temporalOf(), t, { progress: 'plain' }, () => {})).toMatchObject({ equal: true, rows: 1500 });
  }, 180_000);
});

import type { ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { spawnSync } from 'node:child_process';
import { BIN, runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, firstValue, pgPool, serverClickHouse, temporalClient } from '../support/harness';

// Backfills on the Debian server, which has no dedup tokens: plain count()
// (no FINAL) is exact only if nothing is ever inserted twice.
const database = 'it_backfill';
let pool: pg.Pool;
let ch: ClickHouseClient;
let temporal: Client;
const procs: CliRun[] = [];

beforeAll(async () => {
  pool = pgPool();
  ch = serverClickHouse(envFor('server', database, 'x'));
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await ch.command({ query: `CREATE DATABASE ${database}` });
  temporal = await temporalClient();
});

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  await temporal?.connection.close();
  await ch?.close();
  await pool?.end();
});

const one = (sql: string) => firstValue(ch, sql);
const counts = async (table: string) => ({
  plain: await one(`SELECT toString(count()) AS n FROM ${database}.${table}`),
  distinct: await one(`SELECT toString(uniqExact(id)) AS n FROM ${database}.${table}`),
});

function cli(args: string[], env: Record<string, string>): CliRun {
  const run = runCli(args, env);
  procs.push(run);
  return run;
}

async function worker(env: Record<string, string>, queue: string): Promise<CliRun> {
  const w = cli(['worker'], env);
  await waitForOutput(w, new RegExp(`pg2ch worker on task queue ${queue}`));
  return w;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function fresh(table: string, rows: number): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS ${table}`);
  await createActivityLogs(pool, table);
  await seedActivityLogs(pool, { firstId: 1, count: rows, table });
}

describe('pg2ch backfill', () => {
  const table = 'bf_logs';
  const queue = 'it-backfill';
  let env: Record<string, string>;

  beforeAll(async () => {
    await fresh(table, 200_000);
    env = envFor('server', database, queue);
  });

  it('holds the table: a sync cannot start beside a backfill, nor a backfill beside a sync', async () => {
    // No worker yet: the backfill is started and waits, holding sync:<table>.
    const started = cli(['backfill', table, '--partitions', '4', '--parallel', '2', '--chunk-rows', '20000', '--detach'], env);
    expect((await started.exit).code, started.stderr()).toBe(0);
    expect(started.stdout()).toMatch(/backfill workflow sync:bf_logs/);
    const sync = cli(['sync', table, '--once'], env);
    expect((await sync.exit).code).toBe(1);
    expect(sync.stderr()).toMatch(/^pg2ch: a backfill of bf_logs is running as workflow sync:bf_logs; the sync continues after it/m);
    expect(sync.stderr()).not.toMatch(/\n\s+at /);

    // And the other way round, on a table whose sync is waiting for a worker.
    await fresh('bf_busy', 10);
    const busySync = cli(['sync', 'bf_busy'], env);
    expect((await busySync.exit).code, busySync.stderr()).toBe(0);
    const backfill = cli(['backfill', 'bf_busy'], env);
    expect((await backfill.exit).code).toBe(1);
    expect(backfill.stderr()).toMatch(/^pg2ch: an incremental sync of bf_busy is running as workflow sync:bf_busy; start the backfill when it ends/m);
  });

  it('copies 200k rows in 4 partitions, 2 at once, exactly', async () => {
    await worker(env, queue);
    // Joins the backfill started above and follows it to its end.
    const run = cli(['backfill', table, '--partitions', '4', '--parallel', '2', '--chunk-rows', '20000', '--json'], env);
    const exit = await run.exit;
    expect(exit.code, run.stderr()).toBe(0);
    const lines = jsonLines(run.stdout());
    const result = lines.find((l) => l.type === 'result')!;
    expect(result).toMatchObject({ table, rows: 200_000, partitions: 4, range: { afterId: null, toId: '200000' } });
    const progress = lines.filter((l) => l.type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ kind: 'backfill', rowsCopied: 200_000, partitions: { total: 4, done: 4, running: 0 } });
    expect(await counts(table)).toEqual({ plain: '200000', distinct: '200000' });

    // Four partition workflows ran, one execution each.
    const ids: string[] = [];
    for await (const w of temporal.workflow.list({ query: `WorkflowType = 'backfillPartition'` })) {
      if (w.workflowId.startsWith(`backfill:${table}:`)) ids.push(w.workflowId);
    }
    // Named by their ranges, which tile the table: (start, a], (a, b], (b, c], (c, 200000].
    const ranges = ids
      .map((id) => /^backfill:bf_logs:(start|\d+)-(\d+)$/.exec(id)!)
      .map((m) => ({ after: m[1] === 'start' ? 0n : BigInt(m[1]!), to: BigInt(m[2]!) }))
      .sort((a, b) => (a.after < b.after ? -1 : 1));
    expect(ranges).toHaveLength(4);
    expect(ranges[0]!.after).toBe(0n);
    expect(ranges[3]!.to).toBe(200000n);
    for (let i = 1; i < 4; i++) expect(ranges[i]!.after).toBe(ranges[i - 1]!.to);
  });

  it('leaves the watermark alone; the next sync jumps over the backfilled range and copies only new rows', async () => {
    expect(await one(`SELECT toString(count()) AS n FROM ${database}.sync_control WHERE table_name = '${table}' AND workflow_id NOT LIKE 'backfill:%'`)).toBe('0');
    await seedActivityLogs(pool, { firstId: 200_001, count: 1_000, table });
    const sync = cli(['sync', table, '--once', '--json'], env);
    expect((await sync.exit).code, sync.stderr()).toBe(0);
    const result = jsonLines(sync.stdout()).find((l) => l.type === 'result')!;
    expect(result).toMatchObject({ table, rows: 1_000, chunks: 1, lastId: '201000' });
    expect(await counts(table)).toEqual({ plain: '201000', distinct: '201000' });
    // A second backfill of the whole table finds everything there and copies nothing.
    const again = cli(['backfill', table, '--json'], env);
    expect((await again.exit).code, again.stderr()).toBe(0);
    expect(jsonLines(again.stdout()).find((l) => l.type === 'result')).toMatchObject({ rows: 0, partitions: 0, skipped: [{ afterId: null, toId: '201000' }] });
    expect(await counts(table)).toEqual({ plain: '201000', distinct: '201000' });
  });

  it('status shows the watermark, the lag behind PostgreSQL and what runs', async () => {
    const status = async () => {
      const run = cli(['status', table, '--json'], env);
      expect((await run.exit).code, run.stderr()).toBe(0);
      return JSON.parse(run.stdout()) as Array<Record<string, unknown>>;
    };
    const [caughtUp] = await status();
    expect(caughtUp).toMatchObject({ table, watermark: '201000', sourceMaxId: '201000', lagRows: 0, lagSeconds: 0, running: [], schedule: null });
    expect(Date.now() - (caughtUp!.lastSyncAt as number)).toBeLessThan(120_000);
    await seedActivityLogs(pool, { firstId: 201_001, count: 500, table });
    const [behind] = await status();
    expect(behind).toMatchObject({ watermark: '201000', sourceMaxId: '201500', lagRows: 500 });
    expect(behind!.lagSeconds as number).toBeGreaterThan(0);

    const text = cli(['status'], env);
    expect((await text.exit).code, text.stderr()).toBe(0);
    expect(text.stdout()).toMatch(/^bf_logs\n  watermark: 201000; last sync .+\n  lag: 500 rows, \d+ s behind PostgreSQL \(max id 201500\)\n  running: nothing\n  schedule: none/m);

    const missing = cli(['status', 'no_such_table'], env);
    expect((await missing.exit).code).toBe(1);
    expect(missing.stderr()).toMatch(/^pg2ch: table no_such_table does not exist in PostgreSQL/);
  });

  it('draws a progress bar on a terminal', async () => {
    const t = 'bf_tty';
    await fresh(t, 30_000);
    // script(1) gives the CLI a pseudo-terminal, as a user's shell would.
    const tty = spawnSync('script', ['-qec', `${shellQuote(process.execPath)} ${shellQuote(BIN)} sync ${t} --once --chunk-rows 5000`, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(tty.status, tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/sync bf_tty \[[█░]+\] 100% \| 30000\/30000 rows \| [\d,]+ rows\/s \| 6 chunks/);
    expect(tty.stdout).toMatch(/synced bf_tty: 30000 rows copied in 6 chunks/);
  });

  it('tags runs for the Web UI: search attribute, summaries, details and memo', async () => {
    const tagged: string[] = [];
    for await (const w of temporal.workflow.list({ query: `Pg2chTable = '${table}'` })) tagged.push(`${w.type} ${w.workflowId}`);
    expect(tagged).toContain('syncTable sync:bf_logs');
    expect(tagged).toContain('backfillTable sync:bf_logs');
    expect(tagged.filter((t) => t.startsWith('backfillPartition backfill:bf_logs:'))).toHaveLength(4);

    let syncRun = '';
    for await (const w of temporal.workflow.list({ query: `WorkflowType = 'syncTable' AND WorkflowId = 'sync:${table}'` })) syncRun = w.runId;
    const d = await temporal.workflow.getHandle(`sync:${table}`, syncRun).describe();
    expect(d.type).toBe('syncTable');
    expect(await d.staticSummary()).toBe('Incremental sync of bf_logs');
    expect(d.memo).toMatchObject({ table, rows: 1_000, lastId: '201000' });
    const partition = (await (async () => {
      for await (const w of temporal.workflow.list({ query: `WorkflowType = 'backfillPartition' AND Pg2chTable = '${table}'` })) return w;
    })())!;
    const pd = await temporal.workflow.getHandle(partition.workflowId).describe();
    expect(await pd.staticSummary()).toMatch(/^Backfill bf_logs, partition [1-4] of 4: ids \(/);
    // Partition bounds come from the planner's sampled statistics, so a partition holds about, not exactly,
    // 50,000 of the contiguous ids: its memo counts exactly the ids of its own range.
    const memo = pd.memo as { table: string; rows: number; afterId: string | null; toId: string };
    expect(memo.table).toBe(table);
    expect(memo.rows).toBe(Number(memo.toId) - Number(memo.afterId ?? '0'));
  });

  it('backfills a time window: only the ids of rows in it', async () => {
    const t = 'bf_times';
    await pool.query(`DROP TABLE IF EXISTS ${t}`);
    await createActivityLogs(pool, t);
    await pool.query(
      `INSERT INTO ${t} (id, created_at, event_name, user_id, properties)
       SELECT g, timestamp '2026-01-01' + g * interval '1 hour', 'e', g, '{}' FROM generate_series(1, 100) g`,
    );
    const run = cli(['backfill', t, '--since', '2026-01-02T00:00:00Z', '--until', '2026-01-03T00:00:00Z', '--partitions', '2', '--json'], env);
    expect((await run.exit).code, run.stderr()).toBe(0);
    // 01-02 00:00 is id 24, 01-02 23:00 is id 47.
    expect(jsonLines(run.stdout()).find((l) => l.type === 'result')).toMatchObject({ rows: 24, range: { afterId: '23', toId: '47' } });
    expect(await one(`SELECT toString(min(id)) || '-' || toString(max(id)) AS n FROM ${database}.${t}`)).toBe('24-47');
  });

  it('refuses bad ranges before starting anything', async () => {
    for (const [args, message] of [
      [['--from-id', '10', '--to-id', '5'], /--from-id 10 is above --to-id 5/],
      [['--from-id', 'abc'], /--from-id must be an integer cursor value, got "abc"/],
      [['--since', 'yesterday'], /--since must be an ISO date or time/],
      [['--from-id', '1', '--since', '2026-01-01'], /either --from-id\/--to-id or --since\/--until, not both/],
      [['--partitions', '0'], /--partitions/],
    ] as const) {
      const run = cli(['backfill', table, ...args], env);
      expect((await run.exit).code, `${args.join(' ')}: ${run.stderr()}`).toBe(2);
      expect(run.stderr()).toMatch(message);
    }
  });
});

describe('a worker killed mid-backfill', () => {
  const table = 'bf_kill_logs';
  const queue = 'it-backfill-kill';
  let env: Record<string, string>;

  beforeAll(async () => {
    await fresh(table, 200_000);
    env = envFor('server', database, queue);
  });

  const partitionRuns = async () => {
    const runs: Array<{ id: string; status: string }> = [];
    for await (const w of temporal.workflow.list({ query: `WorkflowType = 'backfillPartition'` })) {
      if (w.workflowId.startsWith(`backfill:${table}:`)) runs.push({ id: w.workflowId, status: w.status.name });
    }
    return runs;
  };
  const checkpointsOf = (id: string) => one(`SELECT toString(count()) AS n FROM ${database}.sync_control WHERE workflow_id = '${id}'`);

  it('finishes after a restart without copying finished partitions again', async () => {
    const first = await worker(env, queue);
    const run = cli(['backfill', table, '--partitions', '4', '--parallel', '2', '--chunk-rows', '2000', '--json'], env);

    // Kill the worker as soon as one partition has finished and others have not.
    let finished: string[] = [];
    const deadline = Date.now() + 120_000;
    while (finished.length === 0) {
      if (Date.now() > deadline) throw new Error(`no partition finished:\n${run.stdout()}\n${run.stderr()}`);
      finished = (await partitionRuns()).filter((r) => r.status === 'COMPLETED').map((r) => r.id);
      await new Promise((r) => setTimeout(r, 100));
    }
    first.child.kill('SIGKILL');
    await first.exit;
    expect(finished.length).toBeLessThan(4);
    const before = new Map<string, string>();
    for (const id of finished) before.set(id, await checkpointsOf(id));
    const copiedBefore = Number((await counts(table)).distinct);
    expect(copiedBefore).toBeLessThan(200_000);

    await worker(env, queue);
    const exit = await run.exit;
    expect(exit.code, run.stderr()).toBe(0);
    expect(jsonLines(run.stdout()).find((l) => l.type === 'result')).toMatchObject({ rows: 200_000, partitions: 4 });
    expect(await counts(table)).toEqual({ plain: '200000', distinct: '200000' });

    // Finished partitions were not run again: one execution each, and no checkpoint written after the restart.
    const runs = await partitionRuns();
    expect(runs).toHaveLength(4);
    for (const id of finished) {
      expect(runs.filter((r) => r.id === id)).toHaveLength(1);
      expect(await checkpointsOf(id)).toBe(before.get(id));
    }
  });
});

import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchedule, deleteSchedule, describeSchedule, pauseSchedule, triggerSchedule } from '../../client/commands/schedule';
import { readTemporalConfig } from '../../core/config';
import { progressQuery } from '../../workflows/progress';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { runCli } from '../support/cli';
import { envFor, pgPool, startWorker, temporalClient, type RunningWorker } from '../support/harness';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('schedules on the real Temporal server', () => {
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    for (const t of ['sched_logs', 'sched_paused']) {
      await pool.query(`DROP TABLE IF EXISTS ${t}`);
      await createActivityLogs(pool, t);
    }
    // Small chunks make a run last long enough to overlap with a second trigger.
    await seedActivityLogs(pool, { firstId: 1, count: 40_000, table: 'sched_logs' });
    await seedActivityLogs(pool, { firstId: 1, count: 100, table: 'sched_paused' });
    env = envFor('server', 'it_schedule', 'it-schedule');
    worker = await startWorker(env);
    await worker.worker.clickhouse.client.command({ query: 'DROP TABLE IF EXISTS it_schedule.sched_logs' });
    await worker.worker.clickhouse.client.command({ query: 'DROP TABLE IF EXISTS it_schedule.sync_control' });
    client = await temporalClient();
  });

  afterAll(async () => {
    for (const t of ['sched_logs', 'sched_paused']) await deleteSchedule(client, t).catch(() => {});
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  it('a trigger runs the sync; a second trigger while it runs is skipped, never doubled', async () => {
    const temporal = readTemporalConfig(env);
    await createSchedule(client, temporal, 'sched_logs', { every: '1h', chunkRows: 500 });
    await triggerSchedule(client, 'sched_logs');
    const running = await until('a running sync', async () => {
      const d = await describeSchedule(client, 'sched_logs');
      return d.running.length === 1 ? d.running[0] : undefined;
    });
    expect(running).toMatch(/^scheduled:sched_logs-/);
    await triggerSchedule(client, 'sched_logs');
    const after = await until('the second trigger to be processed', async () => {
      const d = await describeSchedule(client, 'sched_logs');
      return d.skippedOverlap >= 1 ? d : undefined;
    });
    expect(after.runsStarted).toBe(1);
    expect(after.running.length).toBeLessThanOrEqual(1);
    // The scheduled run answers the progress query with its sync's figures.
    const live = await until('progress from the scheduled run', async () => {
      const p = await client.workflow.getHandle(running!).query(progressQuery);
      return p.rowsCopied > 0 ? p : undefined;
    });
    expect(live).toMatchObject({ kind: 'sync', table: 'sched_logs' });
    const result = await client.workflow.getHandle(running!).result();
    expect(result).toMatchObject({ rows: 40_000, lastId: '40000' });
    expect(await client.workflow.getHandle(running!).query(progressQuery)).toMatchObject({ stage: 'done', rowsCopied: 40_000 });
    const [n] = await (
      await worker.worker.clickhouse.client.query({ query: 'SELECT toString(count()) AS n FROM it_schedule.sched_logs', format: 'JSONEachRow' })
    ).json<{ n: string }>();
    expect(n!.n).toBe('40000');
  });

  it('a paused schedule starts nothing until unpaused', async () => {
    await createSchedule(client, readTemporalConfig(env), 'sched_paused', { every: '1s', paused: true });
    await new Promise((r) => setTimeout(r, 3500));
    expect((await describeSchedule(client, 'sched_paused')).runsStarted).toBe(0);
    await pauseSchedule(client, 'sched_paused', false);
    const d = await until('a run after unpause', async () => {
      const s = await describeSchedule(client, 'sched_paused');
      return s.runsStarted >= 1 ? s : undefined;
    }, 20_000);
    expect(d.paused).toBe(false);
    await pauseSchedule(client, 'sched_paused', true, 'test done');
  });

  it('the CLI manages schedules and refuses bad input with one line', async () => {
    const create = runCli(['schedule', 'create', 'cli_sched', '--every', '5m', '--catchup-window', '2m'], env);
    expect((await create.exit).code, create.stderr()).toBe(0);
    expect(create.stdout()).toMatch(/schedule sync:cli_sched: every 300s/);
    const again = runCli(['schedule', 'create', 'cli_sched', '--every', '5m'], env);
    expect((await again.exit).code).toBe(1);
    expect(again.stderr().trim()).toBe('pg2ch: a schedule for cli_sched exists already; change it with: pg2ch schedule update cli_sched');
    const bad = runCli(['schedule', 'create', 'x', '--every', '5x'], env);
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr().trim()).toBe('pg2ch: --every must be a duration such as 30s, 5m, 1h or 1d, got "5x"');
    const both = runCli(['schedule', 'create', 'x', '--every', '5m', '--cron', '0 * * * *'], env);
    expect((await both.exit).code).toBe(2);
    const list = runCli(['schedule', 'list', '--json'], env);
    expect((await list.exit).code).toBe(0);
    expect(JSON.parse(list.stdout()).map((s: { scheduleId: string }) => s.scheduleId)).toContain('sync:cli_sched');
    const del = runCli(['schedule', 'delete', 'cli_sched'], env);
    expect((await del.exit).code).toBe(0);
    const gone = runCli(['schedule', 'describe', 'cli_sched'], env);
    expect((await gone.exit).code).toBe(1);
    expect(gone.stderr().trim()).toBe('pg2ch: there is no schedule for cli_sched; create one with: pg2ch schedule create cli_sched --every 5m');
  });

  it('a scheduled run while `pg2ch sync` runs the same table is skipped, not doubled', async () => {
    await pool.query('DELETE FROM sched_logs');
    await seedActivityLogs(pool, { firstId: 100_001, count: 30_000, table: 'sched_logs' });
    const manual = runCli(['sync', 'sched_logs', '--once', '--chunk-rows', '500'], env);
    await until('the manual sync to run', async () => {
      const h = client.workflow.getHandle('sync:sched_logs');
      const d = await h.describe().catch(() => undefined);
      return d?.status.name === 'RUNNING' ? d : undefined;
    });
    await triggerSchedule(client, 'sched_logs');
    const run = await until('the scheduled run', async () => {
      const d = await describeSchedule(client, 'sched_logs');
      return d.recent.length >= 2 ? d.recent[d.recent.length - 1] : undefined;
    });
    const scheduled = await client.workflow.getHandle(run!.workflowId).result();
    expect(scheduled).toEqual({ table: 'sched_logs', skipped: 'a sync or backfill of sched_logs is already running' });
    expect((await manual.exit).code, manual.stderr()).toBe(0);
    expect(manual.stdout()).toMatch(/synced sched_logs: 30000 rows copied/);
  });

  it('survives the worker: a run triggered while no worker runs completes when one starts', async () => {
    await worker.stop();
    await seedActivityLogs(pool, { firstId: 200_001, count: 700, table: 'sched_logs' });
    const before = (await describeSchedule(client, 'sched_logs')).recent.length;
    await triggerSchedule(client, 'sched_logs');
    const run = await until('the triggered run', async () => {
      const d = await describeSchedule(client, 'sched_logs');
      return d.recent.length > before ? d.recent[d.recent.length - 1] : undefined;
    });
    // The schedule and its run live in the Temporal server; a new worker picks the run up.
    worker = await startWorker(env);
    const result = await client.workflow.getHandle(run!.workflowId).result();
    expect(result).toMatchObject({ table: 'sched_logs', rows: 700, lastId: '200700' });
  });
});

import { createServer } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { freePort } from '../../devstack/free-port';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { sample } from '../support/prometheus';
import { envFor, firstValue, pgPool, serverClickHouse, services } from '../support/harness';

const ROWS = 30_000;
const CHUNK = 10_000;

async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

function secretsOfServices(): string[] {
  const s = services();
  return [new URL(s.pgUrl).password, decodeURIComponent(new URL(s.clickhouseUrl).password)];
}

describe('the worker serves Prometheus metrics on PG2CH_METRICS_ADDRESS and logs JSON with PG2CH_LOG_FORMAT=json', () => {
  const table = 'metrics_events';
  let pool: pg.Pool;
  let env: Record<string, string>;
  let address: string;
  let worker: CliRun;

  beforeAll(async () => {
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: ROWS, table });
    address = `127.0.0.1:${await freePort()}`;
    env = { ...envFor('server', 'it_metrics', 'it-metrics'), PG2CH_METRICS_ADDRESS: address, PG2CH_LOG_FORMAT: 'json' };
    const ch = serverClickHouse(env);
    await ch.command({ query: `DROP TABLE IF EXISTS it_metrics.${table}` });
    await ch.close();
    worker = runCli(['worker'], env);
    await waitForOutput(worker, /pg2ch worker on task queue it-metrics/);
  });

  afterAll(async () => {
    worker?.child.kill('SIGINT');
    await worker?.exit;
    await pool?.end();
  });

  it('counts the rows, chunks and chunk durations of a sync, with the SDK worker metrics beside them', async () => {
    const sync = runCli(['sync', table, '--once', '--chunk-rows', String(CHUNK)], env);
    // Scraped while the sync runs: the counter only grows, never past the table.
    const seen: number[] = [];
    while (sync.child.exitCode === null) {
      seen.push(sample(await scrape(address), 'pg2ch_rows_copied_total', { table }) ?? 0);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await sync.exit).code, sync.stderr()).toBe(0);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(Math.max(...seen)).toBeLessThanOrEqual(ROWS);

    const text = await scrape(address);
    const ch = serverClickHouse(env);
    const inClickHouse = Number(await firstValue(ch, `SELECT toString(count()) AS n FROM it_metrics.${table}`));
    await ch.close();
    expect(inClickHouse).toBe(ROWS);
    expect(sample(text, 'pg2ch_rows_copied_total', { table })).toBe(ROWS);
    expect(sample(text, 'pg2ch_chunks_copied_total', { table })).toBe(ROWS / CHUNK);
    expect(sample(text, 'pg2ch_chunk_copy_seconds_count', { table })).toBe(ROWS / CHUNK);
    expect(sample(text, 'pg2ch_bytes_copied_total', { table })).toBeGreaterThan(ROWS * 10);
    expect(sample(text, 'pg2ch_rows_pending', { table })).toBe(0);
    expect(sample(text, 'pg2ch_lag_seconds', { table })).toBe(0);
    // The Temporal SDK's own worker metrics, merged into the same answer.
    expect(sample(text, 'temporal_num_pollers', { task_queue: 'it-metrics' })).toBeGreaterThan(0);
    expect(text).toMatch(/^temporal_worker_task_slots_available\{/m);
  });

  it('counts a failing sync by error kind and type', async () => {
    const labels = { table: 'no_such_table', activity: 'prepareTable', kind: 'non_retryable', type: 'MissingTable' };
    const before = sample(await scrape(address), 'pg2ch_activity_errors_total', labels) ?? 0;
    const sync = runCli(['sync', 'no_such_table', '--once'], env);
    expect((await sync.exit).code).toBe(1);
    const after = await scrape(address);
    expect(sample(after, 'pg2ch_activity_errors_total', labels)).toBe(before + 1);
  });

  it('reads rows pending and lag behind PostgreSQL from the status read, refreshed on scrape', async () => {
    // Rows the worker has not copied: only the status read (at most every 30 s) can know of them.
    await seedActivityLogs(pool, { firstId: ROWS + 1, count: 500, table });
    const deadline = Date.now() + 90_000;
    let text = await scrape(address);
    while (sample(text, 'pg2ch_rows_pending', { table }) !== 500 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      text = await scrape(address);
    }
    expect(sample(text, 'pg2ch_rows_pending', { table })).toBe(500);
    // The seed's events spread over the last 90 days: the oldest one not copied is hours old at least.
    expect(sample(text, 'pg2ch_lag_seconds', { table })).toBeGreaterThan(3600);
  });

  it('logs one JSON object per line, with the table and workflow id of the sync, and no secret', () => {
    const lines = (worker.stdout() + worker.stderr()).split('\n').filter((l) => l.trim() !== '');
    const records = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
    for (const r of records) {
      expect(typeof r.level).toBe('string');
      expect(new Date(String(r.time)).toISOString()).toBe(r.time);
      expect(typeof r.message).toBe('string');
    }
    const chunk = records.find((r) => r.message === 'chunk copied' && r.table === table);
    expect(chunk, lines.join('\n')).toMatchObject({ level: 'info', workflowId: `sync:${table}`, activityType: 'insertBatch', attempt: 1, rows: CHUNK });
    for (const secret of secretsOfServices()) expect(lines.join('\n')).not.toContain(secret);
  });
});

describe('PG2CH_METRICS_ADDRESS and PG2CH_LOG_FORMAT at start', () => {
  it('a taken metrics port is one line naming the port and the variable', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const run = runCli(['worker'], { ...envFor('server', 'it_metrics', 'it-metrics-taken'), PG2CH_METRICS_ADDRESS: `127.0.0.1:${port}` });
      expect((await run.exit).code).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines, run.stderr()).toHaveLength(1);
      expect(lines[0]).toBe(`pg2ch: cannot serve metrics on PG2CH_METRICS_ADDRESS 127.0.0.1:${port}: port ${port} is taken by another process; set PG2CH_METRICS_ADDRESS to a free host:port`);
    } finally {
      holder.close();
    }
  });

  it('an error at start is one JSON line in the JSON format, without the password', async () => {
    const port = await freePort();
    const run = runCli(['worker'], { ...envFor('server', 'it_metrics', 'it-metrics-json'), PG2CH_LOG_FORMAT: 'json', PG_URL: `postgres://u:secret-pw@127.0.0.1:${port}/db` });
    expect((await run.exit).code).toBe(1);
    const lines = run.stderr().trim().split('\n');
    expect(lines, run.stderr()).toHaveLength(1);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ level: 'error' });
    expect(record.message).toMatch(new RegExp(`^pg2ch: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/db \\(PG_URL\\)`));
    expect(run.stderr()).not.toContain('secret-pw');
  });

  it('an unknown log format is refused naming the variable', async () => {
    const run = runCli(['worker'], { ...envFor('server', 'it_metrics', 'it-metrics-bad'), PG2CH_LOG_FORMAT: 'xml' });
    expect((await run.exit).code).toBe(2);
    expect(run.stderr().trim()).toBe('pg2ch: PG2CH_LOG_FORMAT is invalid: expected human or json, got "xml"');
  });
});

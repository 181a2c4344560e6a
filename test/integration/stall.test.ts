import { createServer, type Server, type Socket } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { syncWorkflowId } from '../../core/workflow-ids';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, firstValue, pgPool, serverClickHouse, services, startWorker, temporalClient, type RunningWorker } from '../support/harness';

/** A TCP server that accepts every connection and never sends a byte: the worst kind of wrong address. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const seconds = (ms: number) => Math.round(ms / 1000);

/** The suite's ClickHouse server as its test-only user whose profile caps max_memory_usage (devstack/clickhouse-server.ts). */
function lowMemoryUrl(): string {
  const url = new URL(services().clickhouseUrl);
  url.username = `${url.username}_low_memory`;
  return url.toString().replace(/\/$/, '');
}

/** A table of `rows` rows of `width` characters each: the chunk's bytes, not its row count, decide its memory in ClickHouse. */
async function wideRows(pool: pg.Pool, table: string, rows: number, width: number): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS ${table}`);
  await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, body text NOT NULL)`);
  await pool.query(`INSERT INTO ${table} SELECT g, repeat(md5(g::text), $1::int / 32) FROM generate_series(1, $2::int) g`, [width, rows]);
}

describe('never stall in silence', () => {
  let pool: pg.Pool;
  const procs: CliRun[] = [];
  const workers: RunningWorker[] = [];

  beforeAll(() => {
    pool = pgPool();
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    for (const w of workers) await w.stop();
    await pool?.end();
  });

  describe('a chunk too big for ClickHouse memory', () => {
    let env: Record<string, string>;
    beforeAll(async () => {
      env = { ...envFor('server', 'it_stall_mem', 'it-stall-mem'), CLICKHOUSE_URL: lowMemoryUrl() };
      workers.push(await startWorker(env));
    });

    it('is copied again in halves, and every row arrives', async () => {
      // ~220 bytes a row: 100,000 rows pass the user's 40 MB max_memory_usage on no server; 25,000 do.
      await wideRows(pool, 'mem_halving', 130_000, 200);
      const started = Date.now();
      const run = runCli(['sync', 'mem_halving', '--once', '--chunk-rows', '100000'], env);
      procs.push(run);
      const done = await run.exit;
      expect(done.code, run.stderr()).toBe(0);
      const chunks = Number(/synced mem_halving: 130000 rows copied in (\d+) chunks/.exec(run.stdout())?.[1]);
      // Two chunks of 100,000 would have been all; halving makes more.
      expect(chunks, run.stdout()).toBeGreaterThanOrEqual(3);
      expect(seconds(Date.now() - started)).toBeLessThan(170);
      const ch = serverClickHouse({ ...env, CLICKHOUSE_URL: services().clickhouseUrl });
      try {
        expect(await firstValue(ch, `SELECT toString(count()) AS n FROM it_stall_mem.mem_halving FINAL`)).toBe('130000');
        expect(await firstValue(ch, `SELECT toString(uniqExact(id)) AS n FROM it_stall_mem.mem_halving`)).toBe('130000');
        const sum = (await pool.query(`SELECT sum(length(body))::text AS n FROM mem_halving`)).rows[0].n;
        expect(await firstValue(ch, `SELECT toString(sum(length(body))) AS n FROM it_stall_mem.mem_halving FINAL`)).toBe(sum);
      } finally {
        await ch.close();
      }
    });

    it('stops, when even the smallest chunk is too big, naming the limit and the setting', async () => {
      // 50 KB a row: 1,000 rows (the floor) are 50 MB, over the 40 MB limit.
      await wideRows(pool, 'mem_never', 1_200, 50_000);
      const started = Date.now();
      const run = runCli(['sync', 'mem_never', '--once', '--chunk-rows', '1200'], env);
      procs.push(run);
      const done = await run.exit;
      expect(done.code).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines.at(-1)).toMatch(/^pg2ch: sync of mem_never failed: a chunk of 1000 rows of mem_never \(cut from 1200\) is still too big for ClickHouse: raise max_memory_usage .*CLICKHOUSE_URL.*, or set chunkRows \(--chunk-rows\) below 1000; ClickHouse said: Code: 241/);
      expect(seconds(Date.now() - started)).toBeLessThan(170);
    });
  });

  async function countIn(env: Record<string, string>, table: string): Promise<string> {
    const ch = serverClickHouse({ ...env, CLICKHOUSE_URL: services().clickhouseUrl });
    try {
      return await firstValue(ch, `SELECT toString(uniqExact(id)) AS n FROM ${env.CLICKHOUSE_DATABASE}.${table}`);
    } finally {
      await ch.close();
    }
  }

  it('PostgreSQL out of connection slots: the CLI shows the retry and its reason, warns of the stall, and the sync finishes once slots free', async () => {
    const role = 'stall_slots';
    await createActivityLogs(pool, 'slots_t');
    await pool.query('TRUNCATE slots_t');
    await seedActivityLogs(pool, { firstId: 1, count: 20_000, table: 'slots_t' });
    await pool.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN PASSWORD 'slots-pw-5'; END IF; END $$`);
    await pool.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
    await pool.query(`GRANT SELECT ON slots_t TO ${role}`);
    const url = new URL(services().pgUrl);
    url.username = role;
    url.password = 'slots-pw-5';
    const env = { ...envFor('server', 'it_stall_slots', 'it-stall-slots'), PG_URL: url.toString(), PG2CH_STALL_WARN_AFTER: '5s' };
    workers.push(await startWorker(env));
    // Every slot of the role taken: new connections fail with 53300, and the worker's idle ones are gone.
    await pool.query(`ALTER ROLE ${role} CONNECTION LIMIT 0`);
    await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
    const started = Date.now();
    const run = runCli(['sync', 'slots_t', '--once'], env);
    procs.push(run);
    await waitForOutput(run, /retrying \w+ \(attempt \d+, last failed [^)]*\): PostgreSQL 53300: too many connections for role "stall_slots"/, 120_000);
    await waitForOutput(run, /warning: the sync of slots_t has not moved for \d+ s \(since [^)]*\); it keeps failing: retrying .*53300/, 120_000);
    expect(seconds(Date.now() - started)).toBeLessThan(150);
    expect(run.stdout() + run.stderr()).not.toContain('slots-pw-5');
    await pool.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
    const done = await run.exit;
    expect(done.code, run.stderr()).toBe(0);
    expect(run.stdout()).toMatch(/synced slots_t: 20000 rows copied/);
    expect(await countIn(env, 'slots_t')).toBe('20000');
  });

  it('--json shows the retry in the progress objects', async () => {
    const role = 'stall_slots';
    await pool.query(`INSERT INTO slots_t SELECT g, now(), 'e', 1, '{}' FROM generate_series(20001, 20500) g`);
    const url = new URL(services().pgUrl);
    url.username = role;
    url.password = 'slots-pw-5';
    const env = { ...envFor('server', 'it_stall_slots', 'it-stall-slots'), PG_URL: url.toString(), PG2CH_STALL_WARN_AFTER: '5s' };
    await pool.query(`ALTER ROLE ${role} CONNECTION LIMIT 0`);
    await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
    const run = runCli(['sync', 'slots_t', '--once', '--json'], env);
    procs.push(run);
    await waitForOutput(run, /"type":"progress".*"retry":\{"activity":"\w+","attempt":\d+,"lastError":"PostgreSQL 53300: too many connections for role \\"stall_slots\\"/, 120_000);
    await waitForOutput(run, /\{"type":"warning","message":"warning: the sync of slots_t has not moved/, 120_000);
    await pool.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
    expect((await run.exit).code, run.stderr()).toBe(0);
    const result = JSON.parse(run.stdout().trim().split('\n').at(-1)!);
    expect(result).toMatchObject({ type: 'result', rows: 500 });
    expect(await countIn(env, 'slots_t')).toBe('20500');
  });

  it('a sync holding the table on a task queue no worker polls is named, by sync --once and by status, instead of waited for', async () => {
    await createActivityLogs(pool, 'tq_t');
    await pool.query('TRUNCATE tq_t');
    await seedActivityLogs(pool, { firstId: 1, count: 3_000, table: 'tq_t' });
    const env = envFor('server', 'it_stall_tq', 'it-stall-tq');
    workers.push(await startWorker(env));
    const typo = runCli(['sync', 'tq_t'], { ...env, PG2CH_TASK_QUEUE: 'it-stall-tq-typo' });
    procs.push(typo);
    expect((await typo.exit).code, typo.stderr()).toBe(0);
    expect(typo.stdout() + typo.stderr()).toMatch(/no worker is polling task queue it-stall-tq-typo/);

    const started = Date.now();
    const run = runCli(['sync', 'tq_t', '--once'], env);
    procs.push(run);
    const done = await Promise.race([run.exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000))]);
    expect(done, `still waiting after 90 s:\n${run.stdout()}\n${run.stderr()}`).not.toBe('hung');
    expect((done as { code: number }).code).toBe(1);
    expect(run.stderr().trim()).toMatch(
      /^pg2ch: sync:tq_t runs on task queue it-stall-tq-typo, where no worker polls \(this command uses it-stall-tq, from PG2CH_TASK_QUEUE\): start a worker with PG2CH_TASK_QUEUE=it-stall-tq-typo, or end that run with: temporal workflow terminate --workflow-id sync:tq_t$/,
    );
    expect(seconds(Date.now() - started)).toBeLessThan(90);

    const status = runCli(['status', 'tq_t'], env);
    procs.push(status);
    expect((await status.exit).code, status.stderr()).toBe(0);
    expect(status.stdout()).toMatch(/task queue: sync:tq_t runs on task queue it-stall-tq-typo, where no worker polls/);

    // The cause gone (the stray run ended), the right queue syncs every row.
    const client = await temporalClient();
    try {
      await client.workflow.getHandle(syncWorkflowId('tq_t')).terminate('started on a mistyped task queue');
    } finally {
      await client.connection.close();
    }
    const again = runCli(['sync', 'tq_t', '--once'], env);
    procs.push(again);
    expect((await again.exit).code, again.stderr()).toBe(0);
    expect(await countIn(env, 'tq_t')).toBe('3000');
  });

  it('a CLICKHOUSE_URL that accepts connections and never answers fails the worker with a line naming it', async () => {
    const silent = await silentServer();
    try {
      const env = envFor('server', 'it_stall', 'it-stall-silent');
      const started = Date.now();
      const run = runCli(['worker'], { ...env, CLICKHOUSE_URL: `http://u:secret-pw@127.0.0.1:${silent.port}` });
      procs.push(run);
      const done = await Promise.race([run.exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000))]);
      expect(done, `still running after 90 s:\n${run.stderr()}`).not.toBe('hung');
      expect((done as { code: number }).code).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines, run.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^pg2ch: cannot use ClickHouse at http://127\\.0\\.0\\.1:${silent.port} \\(CLICKHOUSE_URL\\): no answer within \\d+ s`));
      expect(run.stderr()).not.toContain('secret-pw');
      expect(seconds(Date.now() - started)).toBeLessThan(90);
    } finally {
      await silent.close();
    }
  });
});

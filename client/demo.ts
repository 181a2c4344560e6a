// `npm start`: the whole product on embedded defaults in one command. Starts
// the Temporal dev server (Web UI), an embedded PostgreSQL seeded with
// activity_logs, the embedded ClickHouse engine and a worker; runs the first
// sync with a progress bar, schedules the next ones, shows the seed's queries
// and a PostgreSQL vs ClickHouse timing table, then keeps running: new events
// trickle in and every scheduled sync prints a line, until Ctrl-C. With
// PG_URL, CLICKHOUSE_URL or TEMPORAL_ADDRESS set, those are used instead, and
// nothing is seeded or inserted.
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pg from 'pg';
import { ConfigError, readWorkerConfig, type WorkerConfig } from '../core/config';
import { UserError } from '../core/errors';
import { scheduleId } from '../core/workflow-ids';
import { createActivityLogs, seedActivityLogs } from '../devstack/activity-logs';
import { startEmbeddedPostgres, type LocalPostgres } from '../devstack/embedded-postgres';
import { comparisonQueries, seedQueries } from '../devstack/seed-queries';
import { startTemporalDevServer } from '../devstack/temporal-dev-server';
import { assertPortsFree, PortInUseError, type PortNeed } from '../devstack/ports';
import { createPg2chWorker, type Pg2chWorker } from '../worker/create-worker';
import type { ScheduledSyncResult } from '../workflows/sync-table';
import { createSchedule, updateSchedule, pauseSchedule } from './commands/schedule';
import { formatResult, startSync } from './commands/sync';
import { comparisonTable, textTable, type Timing } from './demo-report';
import { failureMessage } from './failure-message';
import { progressMode } from './progress-view';
import { connectTemporal } from './temporal-client';

const TABLE = 'activity_logs';
const STATE_DIR = resolve(process.env.PG2CH_STATE_DIR ?? '.pg2ch');
const out = (s: string) => process.stdout.write(s + '\n');
const clock = () => new Date().toISOString().slice(11, 19);

/**
 * Resolves on the first Ctrl-C (or SIGTERM): everything long-running races it.
 * The handlers stay: Ctrl-C reaches every process of the terminal's group,
 * and npm and tsx pass it on as well, so the same signal arrives more than
 * once, and a repeat must not kill the process in the middle of stopping.
 */
const stopRequested = new Promise<string>((resolve) => {
  process.on('SIGINT', () => resolve('SIGINT'));
  process.on('SIGTERM', () => resolve('SIGTERM'));
});
class Stopped extends Error {}
async function unlessStopped<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, stopRequested.then(() => Promise.reject(new Stopped()))]);
}

async function bestOf3(run: () => Promise<string>): Promise<{ ms: number; answer: string }> {
  let best = Infinity;
  let answer = '';
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    answer = await run();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, answer };
}

async function showQueries(pool: pg.Pool, w: Pg2chWorker): Promise<void> {
  const ch = w.clickhouse;
  const opts = { database: ch.database, table: TABLE, legacy: !ch.caps.dateTime64 };
  const chRows = async (sql: string) => (await ch.client.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, string>>();
  for (const q of seedQueries(opts)) {
    const t0 = performance.now();
    const rows = await chRows(q.clickhouse);
    out(`\n${q.name}: ${rows.length} rows in ${(performance.now() - t0).toFixed(0)} ms (ClickHouse)`);
    out(textTable(rows, 8));
  }
  const timings: Timing[] = [];
  for (const q of comparisonQueries(opts)) {
    const p = await bestOf3(async () => (await pool.query<{ answer: string }>(q.postgres)).rows[0]!.answer);
    const c = await bestOf3(async () => (await chRows(q.clickhouse))[0]!.answer!);
    timings.push({ query: q.name, postgresMs: p.ms, clickhouseMs: c.ms, same: p.answer === c.answer, answer: c.answer });
  }
  out('\n' + comparisonTable(timings, timings[0]!.answer));
}

/** Creates the demo's schedule, or brings an existing one (from an earlier run) to the demo's cadence. */
async function ensureSchedule(client: Client, config: WorkerConfig, every: string): Promise<void> {
  try {
    await createSchedule(client, config.temporal, TABLE, { every });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    await updateSchedule(client, config.temporal, TABLE, { every });
    await pauseSchedule(client, TABLE, false, 'npm start');
  }
  out(`\nschedule ${scheduleId(TABLE)}: a sync every ${every} (pg2ch schedule describe ${TABLE})`);
}

/** One line per scheduled sync that ends, from the schedule's recent actions. */
function watchScheduledSyncs(client: Client): () => void {
  const seen = new Set<string>();
  let first = true;
  const timer = setInterval(async () => {
    try {
      const d = await client.schedule.getHandle(scheduleId(TABLE)).describe();
      for (const a of d.info.recentActions) {
        const id = a.action.workflow.workflowId;
        if (seen.has(id)) continue;
        seen.add(id);
        if (first) continue; // runs of an earlier npm start
        client.workflow
          .getHandle<() => Promise<ScheduledSyncResult>>(id, a.action.workflow.firstExecutionRunId)
          .result()
          .then(
            (r) => out(`[${clock()}] scheduled sync: ${'skipped' in r ? `skipped (${r.skipped})` : formatResult(r)}`),
            (e: unknown) => out(`[${clock()}] scheduled sync failed: ${failureMessage(e)}`),
          );
      }
      first = false;
    } catch {
      // Temporal unreachable for a moment: the next tick tries again.
    }
  }, 2000);
  return () => clearInterval(timer);
}

/** New events every few seconds, as an application would write them. */
function trickle(pool: pg.Pool, everyMs: number): () => void {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const { rows } = await pool.query<{ next: string }>(`SELECT (coalesce(max(id), 0) + 1)::text AS next FROM ${TABLE}`);
      const count = 5 + Math.floor(Math.random() * 46);
      await seedActivityLogs(pool, { firstId: BigInt(rows[0]!.next), count, days: 0 });
    } catch {
      // PostgreSQL going down with Ctrl-C: nothing to do.
    } finally {
      busy = false;
    }
  }, everyMs);
  return () => clearInterval(timer);
}

/** The ports the demo's own services listen on, each movable by a variable. */
function demoPorts(env: NodeJS.ProcessEnv): { temporal: number; ui: number; pg: number } {
  const port = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535) throw new ConfigError(`${name} must be a TCP port (1-65535), got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  return { temporal: port('PG2CH_DEMO_TEMPORAL_PORT', 7233), ui: port('PG2CH_DEMO_UI_PORT', 8233), pg: port('PG2CH_DEMO_PG_PORT', 54329) };
}

/** The ports this run will listen on: none for a service given by URL (TEMPORAL_ADDRESS, PG_URL); the embedded ClickHouse has none. */
function portsNeeded(env: NodeJS.ProcessEnv, ports: ReturnType<typeof demoPorts>): PortNeed[] {
  const needs: PortNeed[] = [];
  if (!env.TEMPORAL_ADDRESS) {
    needs.push(
      { port: ports.temporal, what: 'Temporal', move: 'set PG2CH_DEMO_TEMPORAL_PORT to a free port (or TEMPORAL_ADDRESS to use a Temporal server already running)' },
      { port: ports.ui, what: 'the Temporal Web UI', move: 'set PG2CH_DEMO_UI_PORT to a free port' },
    );
  }
  if (!env.PG_URL) needs.push({ port: ports.pg, what: 'the embedded PostgreSQL', move: 'set PG2CH_DEMO_PG_PORT to a free port (or PG_URL to use a PostgreSQL already running)' });
  return needs;
}

async function main(): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Run last-in first-out at the end: the worker stops before the services it uses.
  const stops: Array<() => Promise<void> | void> = [];
  const every = env.PG2CH_DEMO_EVERY ?? '1m';
  const ports = demoPorts(env);
  // Before anything starts: a port held by another program is one line, not a server's log to dig through.
  await assertPortsFree(portsNeeded(env, ports));
  try {
    let uiUrl: string | undefined;
    if (!env.TEMPORAL_ADDRESS) {
      out('starting the Temporal dev server ...');
      const temporal = await unlessStopped(
        startTemporalDevServer({
          dbFile: join(STATE_DIR, 'temporal.db'),
          logFile: join(STATE_DIR, 'temporal.log'),
          port: ports.temporal,
          uiPort: ports.ui,
        }),
      );
      stops.push(temporal.stop);
      env.TEMPORAL_ADDRESS = temporal.address;
      uiUrl = temporal.uiUrl;
    }
    let localPg: LocalPostgres | undefined;
    if (!env.PG_URL) {
      out('starting the embedded PostgreSQL ...');
      localPg = await unlessStopped(
        startEmbeddedPostgres({
          dataDir: join(STATE_DIR, 'postgres', 'data'),
          database: 'pg2ch_demo',
          password: 'pg2ch-demo',
          port: ports.pg,
        }),
      );
      stops.push(localPg.stop);
      env.PG_URL = localPg.url;
      if (!localPg.dataDir.startsWith(STATE_DIR)) out(`PostgreSQL data in ${localPg.dataDir} (the postgres user cannot reach ${STATE_DIR})`);
    }
    if (!env.CLICKHOUSE_URL && !env.PG2CH_CHDB_PATH) env.PG2CH_CHDB_PATH = join(STATE_DIR, 'clickhouse');
    const config = readWorkerConfig(env);
    const pool = new pg.Pool({ connectionString: env.PG_URL, max: 2, options: '-c TimeZone=UTC' });
    // An idle connection closed by a stopping server must not crash the demo.
    pool.on('error', () => {});
    stops.push(() => pool.end());

    if (localPg) {
      await createActivityLogs(pool);
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${TABLE}`);
      if (rows[0]!.n === '0') {
        const count = Number(env.PG2CH_DEMO_ROWS ?? 1_000_000);
        out(`seeding ${TABLE} with ${count} events over the last 90 days ...`);
        await unlessStopped(seedActivityLogs(pool, { firstId: 1, count }));
      } else {
        out(`${TABLE} has ${rows[0]!.n} rows from an earlier run: not seeded again`);
      }
    }

    out('starting a pg2ch worker ...');
    // The demo's screen is for pg2ch's own lines; the SDK's info logs would bury them.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const w = await unlessStopped(createPg2chWorker(config));
    const running = w.run();
    stops.push(async () => {
      w.shutdown();
      await running;
    });
    const client = await connectTemporal(config.temporal);
    stops.push(() => client.connection.close());
    if (uiUrl) out(`Temporal Web UI: ${uiUrl}/namespaces/default/workflows`);

    out(`\nfirst sync of ${TABLE} (workflow sync:${TABLE}) ...`);
    const result = await unlessStopped(startSync(client, config.temporal, TABLE, { once: true, progress: progressMode({}) }, out));
    if (result) out(formatResult(result));
    await unlessStopped(showQueries(pool, w));
    await ensureSchedule(client, config, every);
    stops.push(watchScheduledSyncs(client));
    if (localPg) {
      stops.push(trickle(pool, Number(env.PG2CH_DEMO_TRICKLE_MS ?? 3000)));
      out(`new events are inserted into PostgreSQL every few seconds; each scheduled sync prints a line`);
    }
    out(`running; press Ctrl-C to stop (npm start again resumes where this left off)`);
    await stopRequested;
  } catch (err) {
    if (!(err instanceof Stopped)) throw err;
  } finally {
    out('\nstopping ...');
    for (const stop of stops.reverse()) await Promise.resolve().then(stop).catch(() => {});
  }
  out('stopped');
}

main().then(
  () => process.exit(0),
  (err) => {
    const oneLine = err instanceof ConfigError || err instanceof UserError || err instanceof PortInUseError;
    process.stderr.write(`pg2ch: ${oneLine ? err.message : (err?.stack ?? String(err))}\n`);
    // A taken port is the caller's to fix before anything can start: exit 2, as pg2ch's usage errors.
    process.exit(err instanceof PortInUseError ? 2 : 1);
  },
);

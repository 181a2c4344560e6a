// `npm start`: the whole stack on embedded defaults in one command. Starts the
// Temporal dev server (Web UI), an embedded PostgreSQL seeded with
// activity_logs, the embedded ClickHouse engine and a worker, runs a sync to
// completion and shows the seed's queries on the result. With PG_URL,
// CLICKHOUSE_URL or TEMPORAL_ADDRESS set, those are used and nothing is seeded.
import { join, resolve } from 'node:path';
import pg from 'pg';
import { readWorkerConfig } from '../core/config';
import { createActivityLogs, seedActivityLogs } from '../devstack/activity-logs';
import { startEmbeddedPostgres, type LocalPostgres } from '../devstack/embedded-postgres';
import { seedQueries } from '../devstack/seed-queries';
import { startTemporalDevServer, type TemporalDevServer } from '../devstack/temporal-dev-server';
import { createPg2chWorker } from '../worker/create-worker';
import { formatResult, startSync } from './commands/sync';
import { connectTemporal } from './temporal-client';
import { ConfigError } from '../core/config';
import { UserError } from '../core/errors';

const STATE_DIR = resolve(process.env.PG2CH_STATE_DIR ?? '.pg2ch');
const out = (s: string) => process.stdout.write(s + '\n');

async function main(): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const stops: Array<() => Promise<void>> = [];
  let temporal: TemporalDevServer | undefined;
  let localPg: LocalPostgres | undefined;
  try {
    if (!env.TEMPORAL_ADDRESS) {
      out('starting the Temporal dev server ...');
      temporal = await startTemporalDevServer({
        dbFile: join(STATE_DIR, 'temporal.db'),
        logFile: join(STATE_DIR, 'temporal.log'),
        port: 7233,
        uiPort: 8233,
      });
      stops.push(temporal.stop);
      env.TEMPORAL_ADDRESS = temporal.address;
    }
    if (!env.PG_URL) {
      out('starting the embedded PostgreSQL ...');
      localPg = await startEmbeddedPostgres({
        dataDir: join(STATE_DIR, 'postgres', 'data'),
        database: 'pg2ch_demo',
        password: 'pg2ch-demo',
        port: Number(env.PG2CH_DEMO_PG_PORT ?? 54329),
      });
      stops.push(localPg.stop);
      env.PG_URL = localPg.url;
    }
    if (!env.CLICKHOUSE_URL && !env.PG2CH_CHDB_PATH) env.PG2CH_CHDB_PATH = join(STATE_DIR, 'clickhouse');
    const config = readWorkerConfig(env);

    if (localPg) {
      const pool = new pg.Pool({ connectionString: env.PG_URL, max: 2 });
      await createActivityLogs(pool);
      const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM activity_logs');
      if (rows[0]!.n === '0') {
        const count = Number(env.PG2CH_DEMO_ROWS ?? 1_000_000);
        out(`seeding activity_logs with ${count} events ...`);
        await seedActivityLogs(pool, { firstId: 1, count });
      }
      await pool.end();
    }

    out('starting a pg2ch worker ...');
    const w = await createPg2chWorker(config);
    const running = w.run();
    stops.unshift(async () => {
      w.shutdown();
      await running;
    });
    if (temporal) out(`Temporal Web UI: ${temporal.uiUrl}/namespaces/default/workflows`);

    const client = await connectTemporal(config.temporal);
    stops.unshift(() => client.connection.close());
    const result = await startSync(client, config.temporal, 'activity_logs', { once: true }, out);
    if (result) out(formatResult(result));

    const ch = w.clickhouse;
    for (const q of seedQueries({ database: ch.database, table: 'activity_logs', legacy: !ch.caps.dateTime64 })) {
      const t0 = performance.now();
      const rows = await (await ch.client.query({ query: q.clickhouse, format: 'JSONEachRow' })).json<Record<string, string>>();
      out(`\n${q.name} (${rows.length} rows, ${(performance.now() - t0).toFixed(0)} ms in ClickHouse)`);
      console.table(rows.slice(0, 8));
    }
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    const msg = err instanceof ConfigError || err instanceof UserError ? err.message : (err?.stack ?? String(err));
    process.stderr.write(`pg2ch: ${msg}\n`);
    process.exit(1);
  },
);

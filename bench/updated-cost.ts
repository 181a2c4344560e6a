/**
 * What updated mode's late-commit horizon costs (core/horizon.ts): rows each
 * run copies again because it starts at the horizon rather than at the
 * watermark. A table of --rows rows, --percent of them updated per minute in
 * one short transaction a second (updated_at = now()), a sync every --every
 * seconds for --seconds; then the same with one transaction held open --hold
 * seconds. Before each run, the rows it will copy again are counted in
 * PostgreSQL: those between where it starts (the previous run's horizon,
 * resume_from in sync_control) and the watermark. Without the horizon a run
 * starts at the watermark and copies none of them again.
 *
 * Run once, not in the suite, against running services (the ClickHouse
 * server, PostgreSQL, Temporal, a workflow bundle):
 *   PG_URL=... CLICKHOUSE_URL=... TEMPORAL_ADDRESS=... PG2CH_WORKFLOW_BUNDLE=... npx tsx bench/updated-cost.ts
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { startSync } from '../client/commands/sync';
import { readTemporalConfig, readWorkerConfig } from '../core/config';
import { createPg2chWorker } from '../worker/create-worker';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    percent: { type: 'string', default: '1' },
    every: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '60' },
    hold: { type: 'string', default: '30' },
  },
});
const ROWS = Number(args.rows);
const PER_SECOND = (ROWS * Number(args.percent)) / 100 / 60;
const EVERY_MS = Number(args.every) * 1000;
const TABLE = 'bench_updated_cost';
const DATABASE = 'bench_updated_cost';
const log = (s: string) => process.stderr.write(`[updated-cost] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const need = (name: string) => process.env[name] ?? (() => { throw new Error(`${name} must be set (see the top of bench/updated-cost.ts)`); })();
  const bundle = need('PG2CH_WORKFLOW_BUNDLE');
  const temporalAddress = need('TEMPORAL_ADDRESS');
  const env: Record<string, string> = {
    PG_URL: need('PG_URL'),
    CLICKHOUSE_URL: need('CLICKHOUSE_URL'),
    TEMPORAL_ADDRESS: temporalAddress,
    PG2CH_WORKFLOW_BUNDLE: bundle,
    CLICKHOUSE_DATABASE: DATABASE,
    PG2CH_TASK_QUEUE: 'bench-updated-cost',
  };
  const pool = new pg.Pool({ connectionString: env.PG_URL, max: 4 });
  await pool.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await pool.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, balance bigint, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
  await pool.query(`INSERT INTO ${TABLE} (balance, note, updated_at) SELECT g, 'row ' || g, now() - interval '1 hour' FROM generate_series(1, ${ROWS}) g`);
  await pool.query(`CREATE INDEX ON ${TABLE} (updated_at, id)`);
  await pool.query(`ANALYZE ${TABLE}`);
  const worker = await createPg2chWorker(readWorkerConfig(env), { workflowBundle: { code: readFileSync(bundle, 'utf8') } });
  const running = worker.run();
  const ch = worker.clickhouse.client;
  await ch.command({ query: `DROP DATABASE IF EXISTS ${DATABASE}` });
  await ch.command({ query: `CREATE DATABASE ${DATABASE}` });
  const client = new Client({ connection: await Connection.connect({ address: temporalAddress }) });
  const sync = () => startSync(client, readTemporalConfig(env), TABLE, { once: true, settings: { mode: 'updated' } }, () => {});
  /** Rows between where the next run starts and the watermark: what it copies again. */
  const window = async () => {
    const [r] = await (
      await ch.query({
        query: `SELECT toString(max(last_max_id)) AS w, toString(argMax(resume_from, last_max_id)) AS h FROM ${DATABASE}.sync_control WHERE table_name = '${TABLE}'`,
        format: 'JSONEachRow',
      })
    ).json<{ w: string; h: string | null }>();
    if (!r?.h || BigInt(r.h) >= BigInt(r.w)) return 0;
    const n = await pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${TABLE} WHERE updated_at >= to_timestamp($1::numeric / 1000000) AND updated_at <= to_timestamp($2::numeric / 1000000)`,
      [r.h, r.w],
    );
    return Number(n.rows[0]!.n);
  };

  let t = Date.now();
  log(`first sync of ${ROWS} rows: ${(await sync())!.rows} rows in ${Date.now() - t} ms`);

  // Updates at the asked rate: one short transaction a second.
  let stop = false;
  let updated = 0;
  const updater = (async () => {
    const batch = Math.max(1, Math.round(PER_SECOND));
    while (!stop) {
      const started = Date.now();
      const ids = Array.from({ length: batch }, () => 1 + Math.floor(Math.random() * ROWS));
      await pool.query(`UPDATE ${TABLE} SET balance = balance + 1, updated_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
      updated += batch;
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
  })();

  const phase = async (name: string, seconds: number) => {
    const out: Array<{ copied: number; again: number; ms: number }> = [];
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      const again = await window();
      t = Date.now();
      const r = await sync();
      const ms = Date.now() - t;
      out.push({ copied: r!.rows, again, ms });
      await sleep(Math.max(0, EVERY_MS - ms));
    }
    const avg = (f: (x: (typeof out)[number]) => number) => Math.round(out.reduce((n, x) => n + f(x), 0) / Math.max(1, out.length));
    const result = { phase: name, runs: out.length, copiedPerRun: avg((x) => x.copied), againPerRun: avg((x) => x.again), maxAgain: Math.max(...out.map((x) => x.again)), msPerRun: avg((x) => x.ms) };
    log(JSON.stringify({ ...result, perRun: out.map((x) => x.again) }));
    return result;
  };

  const steady = await phase('short transactions only', Number(args.seconds));
  // One session holds a transaction open: the horizon stays at its start until it ends.
  const held = await pool.connect();
  await held.query('BEGIN');
  await held.query('SELECT 1');
  const holding = await phase(`one transaction open ${args.hold} s`, Number(args.hold));
  await held.query('COMMIT');
  held.release();
  const after = await phase('after it ended', Math.min(30, Number(args.seconds)));
  stop = true;
  await updater;
  process.stdout.write(`${JSON.stringify({ rows: ROWS, updatesPerSecond: Math.round(PER_SECOND), syncEverySeconds: EVERY_MS / 1000, updated, phases: [steady, holding, after] })}\n`);
  await client.connection.close();
  worker.shutdown();
  await running;
  await pool.end();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});

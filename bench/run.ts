// npm run bench [-- --rows N --repeat R --json --no-write]
//
// Measures, in one run on the same services:
//   a. the raw pipe: psql \copy (SELECT ...) TO STDOUT | curl -T - (INSERT ... FORMAT TabSeparated)
//   b. pg2ch's full path into the ClickHouse server (worker process, sync --once from empty)
//   c. pg2ch's full path into the embedded engine, beside the engine's own postgresql() pull
//   d. an incremental run of 1% new rows on the full table, and the same new rows on a 10x smaller one
//   e. start-up: `pg2ch --help` and `pg2ch sync <table> --once` on a caught-up table, median of 5 each
//   f, g. CDC: changes/s into the server and the embedded engine, and commit-to-visible latency (bench/cdc.ts)
// Workers are started exactly as the README starts them (`pg2ch worker`, loading the
// workflow bundle built at install), and their idle and peak RSS are reported.
// a and b alternate `repeat` times; the median b/a ratio is reported. Results go to
// BENCHMARKS.md (between the bench markers) and, with --json, to stdout.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { introspect } from '../activities/postgres';
import { copyStatement } from '../activities/serialize';
import { startSync } from '../client/commands/sync';
import { capabilitiesFor } from '../core/clickhouse-version';
import { readClickHouseConfig, readPostgresConfig, readTemporalConfig } from '../core/config';
import { createTableSql } from '../core/ddl';
import { chQualified } from '../core/quote';
import { buildPlan } from '../core/table-plan';
import type { TablePlan } from '../core/types';
import { createActivityLogs, seedActivityLogs } from '../devstack/activity-logs';
import { startClickHouseServer } from '../devstack/clickhouse-server';
import { startEmbeddedPostgres } from '../devstack/embedded-postgres';
import { startTemporalDevServer } from '../devstack/temporal-dev-server';
import { cdcMarkdown, cdcPhases } from './cdc';
import { median, peakRssMb, rate, rssMb, timed } from './measure';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    repeat: { type: 'string', default: '3' },
    'chunk-rows': { type: 'string', default: '500000' },
    json: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const REPEAT = Number(args.repeat);
const CHUNK = Number(args['chunk-rows']);
const SMALL = Math.max(1000, Math.round(ROWS / 10));
const NEW_ROWS = Math.max(100, Math.round(ROWS / 100));
// Ids above 2^53: exactness of int8 is part of what is measured.
const FIRST_ID = 9007199254740993n;
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

interface Env {
  pgUrl: string;
  clickhouseUrl: string;
  temporalAddress: string;
  dir: string;
}

/** Services from the environment when set (the test suite), else started here. */
async function services(stops: Array<() => Promise<void>>): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'pg2ch-bench-'));
  chmodSync(dir, 0o755);
  const pgUrl =
    process.env.PG_URL ??
    (await (async () => {
      const p = await startEmbeddedPostgres({ dataDir: join(dir, 'pg', 'data'), database: 'bench', password: 'bench-pw', persistent: false });
      stops.push(p.stop);
      return p.url;
    })());
  const clickhouseUrl =
    process.env.CLICKHOUSE_URL ??
    (await (async () => {
      const c = await startClickHouseServer({ dir: join(dir, 'ch'), user: 'bench', password: 'bench-pw' });
      stops.push(c.stop);
      return c.url;
    })());
  const temporalAddress =
    process.env.TEMPORAL_ADDRESS ??
    (await (async () => {
      const t = await startTemporalDevServer({ dbFile: join(dir, 'temporal.db'), logFile: join(dir, 'temporal.log'), headless: true });
      stops.push(t.stop);
      return t.address;
    })());
  return { pgUrl, clickhouseUrl, temporalAddress, dir };
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-2000)}`))));
  });
}

const BIN = join(__dirname, '..', 'bin', 'pg2ch.cjs');
/** How long after its start line a worker's RSS is read as its idle size. */
const IDLE_SETTLE_MS = 2000;

/** What `npm install` built (dist/: the compiled CLI and the workflow bundle); a no-op when current. */
function ensureBuilt(): void {
  execFileSync(process.execPath, [join(__dirname, '..', 'scripts', 'build.cjs'), '--quiet'], { stdio: 'inherit' });
}

/**
 * A `pg2ch worker` process started as the README starts it: no prebuilt
 * bundle of the bench's own, so it must load dist/workflow-bundle.js (it
 * says so on its start line). Its RSS a moment after starting is its idle
 * size; stop() returns the peak.
 */
async function startWorkerProcess(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [BIN, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 120_000;
  while (!/pg2ch worker on task queue/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!/workflows from dist\/workflow-bundle\.js \(built at install\)/.test(out)) throw new Error(`worker did not load the bundle built at install: ${out.slice(-2000)}`);
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const idleRss = rssMb(child.pid!);
  return {
    pid: child.pid!,
    idleRss,
    async stop(): Promise<number> {
      const rss = peakRssMb(child.pid!);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      return rss;
    },
  };
}

/** Wall time of one `pg2ch ...` run, as a script calling it sees it. */
async function cliMs(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return (await timed(() => run(process.execPath, [BIN, ...argv], env))).ms;
}

async function main() {
  const stops: Array<() => Promise<void>> = [];
  try {
    ensureBuilt();
    const svc = await services(stops);
    const pgCfg = readPostgresConfig({ PG_URL: svc.pgUrl });
    const chCfg = readClickHouseConfig({ CLICKHOUSE_URL: svc.clickhouseUrl });
    if (chCfg.kind !== 'server') throw new Error('unreachable');
    const ch = createClient({ url: chCfg.url, username: chCfg.username, password: chCfg.password });
    const chq = async (query: string) => (await (await ch.query({ query, format: 'JSONEachRow' })).json<Record<string, string>>())[0]!;
    const caps = capabilitiesFor((await chq('SELECT version() AS v')).v!);
    const pool = new pg.Pool({ connectionString: svc.pgUrl, max: 2 });
    pool.on('error', () => {});
    const connection = await Connection.connect({ address: svc.temporalAddress });
    const client = new Client({ connection });

    log(`seeding bench_logs (${ROWS} rows) and bench_small (${SMALL} rows) ...`);
    for (const t of ['bench_logs', 'bench_small']) await pool.query(`DROP TABLE IF EXISTS ${t}`);
    await createActivityLogs(pool, 'bench_logs');
    await createActivityLogs(pool, 'bench_small');
    await seedActivityLogs(pool, { firstId: FIRST_ID, count: ROWS, table: 'bench_logs' });
    await seedActivityLogs(pool, { firstId: FIRST_ID, count: SMALL, table: 'bench_small' });
    for (const t of ['bench_logs', 'bench_small']) await pool.query(`VACUUM ANALYZE ${t}`);
    const pgBytes = Number((await pool.query(`SELECT pg_total_relation_size('bench_logs') AS b`)).rows[0].b);

    // The raw pipe reads exactly what pg2ch's COPY reads, into a table of the same layout.
    const schema = await introspect(pool as never, { schema: 'public', name: 'bench_logs' });
    const plan: TablePlan = {
      ...buildPlan({ schema: 'public', name: 'bench_logs' }, schema, {}, { caps, database: 'bench_raw' }),
      sourceSignature: '',
      strategy: 'push',
    };
    const { columns } = plan;
    const rawDdl = createTableSql({ database: 'bench_raw', table: 'bench_logs', columns, layout: plan.layout, caps });
    const copySql = copyStatement(plan, { afterId: null, toId: '9223372036854775807', rows: ROWS }).replace(/^COPY /, '\\copy ');
    await ch.command({ query: 'CREATE DATABASE IF NOT EXISTS bench_raw' });

    const insertUrl = `${chCfg.url}/?query=${encodeURIComponent(`INSERT INTO ${chQualified('bench_raw', 'bench_logs')} FORMAT TabSeparated`)}`;
    const rawPipe = async () => {
      await ch.command({ query: 'DROP TABLE IF EXISTS bench_raw.bench_logs' });
      await ch.command({ query: rawDdl });
      const r = await timed(() =>
        run('bash', ['-o', 'pipefail', '-c', `psql "$PGURL" -X -q -c "$COPYSQL" | curl -sS --fail -u "$CHUSER:$CHPW" -T - "$INSERTURL"`], {
          ...process.env,
          PGURL: svc.pgUrl,
          COPYSQL: copySql,
          CHUSER: chCfg.username,
          CHPW: chCfg.password,
          INSERTURL: insertUrl,
        }),
      );
      const n = Number((await chq('SELECT toString(count()) AS n FROM bench_raw.bench_logs')).n);
      if (n !== ROWS) throw new Error(`raw pipe moved ${n} rows, expected ${ROWS}`);
      return r.ms;
    };

    const workerEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PG_URL: svc.pgUrl,
      TEMPORAL_ADDRESS: svc.temporalAddress,
      ...extra,
    });
    const sync = async (env: NodeJS.ProcessEnv, table: string) => {
      const temporal = readTemporalConfig(env);
      const r = await timed(() => startSync(client, temporal, table, { once: true, chunkRows: CHUNK }, () => {}));
      return { ms: r.ms, rows: r.value!.rows };
    };
    // One database per source table, so dropping one's sync_control leaves the other's.
    const dbOf = (table: string) => `bench_pg2ch_${table}`;
    const serverEnv = (queue: string, table: string) =>
      workerEnv({ CLICKHOUSE_URL: svc.clickhouseUrl, CLICKHOUSE_DATABASE: dbOf(table), PG2CH_TASK_QUEUE: queue });
    const pg2chServer = async (table: string, queue: string) => {
      await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${dbOf(table)}` });
      await ch.command({ query: `DROP TABLE IF EXISTS ${dbOf(table)}.${table}` });
      await ch.command({ query: `DROP TABLE IF EXISTS ${dbOf(table)}.sync_control` });
      const w = await startWorkerProcess(serverEnv(queue, table));
      const r = await sync(serverEnv(queue, table), table);
      const rss = await w.stop();
      const n = Number((await chq(`SELECT toString(count()) AS n FROM ${dbOf(table)}.${table}`)).n);
      if (n !== r.rows) throw new Error(`pg2ch reported ${r.rows} rows but ClickHouse has ${n}`);
      return { ...r, rss, idleRss: w.idleRss };
    };

    const a: number[] = [];
    const b: Array<{ ms: number; rss: number; idleRss: number }> = [];
    for (let i = 0; i < REPEAT; i++) {
      log(`round ${i + 1}/${REPEAT}: raw pipe ...`);
      a.push(await rawPipe());
      log(`round ${i + 1}/${REPEAT}: pg2ch -> server ...`);
      const r = await pg2chServer('bench_logs', `bench-server-${i}`);
      b.push(r);
      log(`  raw ${a[i]} ms, pg2ch ${r.ms} ms (${(a[i]! / r.ms).toFixed(2)}x), worker peak RSS ${r.rss} MB`);
    }
    const ratios = a.map((ms, i) => ms / b[i]!.ms);

    log('pg2ch -> server, small table (RSS baseline and incremental baseline) ...');
    const small = await pg2chServer('bench_small', 'bench-small');

    log(`incremental: ${NEW_ROWS} new rows on ${ROWS} and on ${SMALL} ...`);
    const incremental = async (table: string, existing: number, queue: string) => {
      await seedActivityLogs(pool, { firstId: FIRST_ID + BigInt(existing), count: NEW_ROWS, table });
      const w = await startWorkerProcess(serverEnv(queue, table));
      const r = await sync(serverEnv(queue, table), table);
      await w.stop();
      if (r.rows !== NEW_ROWS) throw new Error(`incremental run moved ${r.rows} rows, expected ${NEW_ROWS}`);
      return r.ms;
    };
    const incBig = await incremental('bench_logs', ROWS, 'bench-inc-big');
    const incSmall = await incremental('bench_small', SMALL, 'bench-inc-small');

    log('start-up: pg2ch --help, and pg2ch sync --once on a caught-up table (5 each) ...');
    const helpMs: number[] = [];
    for (let i = 0; i < 5; i++) helpMs.push(await cliMs(['--help'], workerEnv({})));
    const caughtUpEnv = serverEnv('bench-inc-small', 'bench_small');
    const wc = await startWorkerProcess(caughtUpEnv);
    const onceMs: number[] = [];
    for (let i = 0; i < 5; i++) onceMs.push(await cliMs(['sync', 'bench_small', '--once'], caughtUpEnv));
    await wc.stop();
    await pool.query(`DELETE FROM bench_logs WHERE id >= $1`, [(FIRST_ID + BigInt(ROWS)).toString()]);

    log('pg2ch -> embedded engine ...');
    const chdbPath = join(svc.dir, 'chdb-pg2ch');
    const embEnv = workerEnv({ PG2CH_CHDB_PATH: chdbPath, CLICKHOUSE_DATABASE: 'bench_pg2ch', PG2CH_TASK_QUEUE: 'bench-embedded' });
    const we = await startWorkerProcess(embEnv);
    const emb = await sync(embEnv, 'bench_logs');
    const embRss = await we.stop();

    log("embedded engine's own postgresql() pull ...");
    const pullDdl = createTableSql({
      database: 'bench_pull',
      table: 'bench_logs',
      columns: buildPlan({ schema: 'public', name: 'bench_logs' }, schema, {}, { caps: capabilitiesFor('26.7'), database: 'bench_pull' }).columns,
      layout: plan.layout,
      caps: capabilitiesFor('26.7'),
    });
    const pull = JSON.parse(
      await run(process.execPath, [join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(__dirname, 'chdb-pull.ts')], {
        ...process.env,
        CHDB_PATH: join(svc.dir, 'chdb-pull'),
        DDL: pullDdl,
        TABLE: 'bench_pull.bench_logs',
        PG_HOST_PORT: `${pgCfg.host}:${pgCfg.port}`,
        PG_DB: pgCfg.database,
        PG_USER: pgCfg.user,
        PG_PASSWORD: pgCfg.password,
        SOURCE_TABLE: 'bench_logs',
        COLUMNS: 'id, created_at, event_name, user_id, properties',
      }),
    ) as { ms: number; rows: number; peakRssMb: number };
    if (pull.rows !== ROWS) throw new Error(`postgresql() pull moved ${pull.rows} rows`);

    const cdc = await cdcPhases(
      {
        pool,
        dir: svc.dir,
        chq,
        chCommand: async (query) => void (await ch.command({ query })),
        serverEnv: (queue, db) => workerEnv({ CLICKHOUSE_URL: svc.clickhouseUrl, CLICKHOUSE_DATABASE: db, PG2CH_TASK_QUEUE: queue }),
        embeddedEnv: (queue, db, chdbPath) => workerEnv({ PG2CH_CHDB_PATH: chdbPath, CLICKHOUSE_DATABASE: db, PG2CH_TASK_QUEUE: queue }),
        startWorker: startWorkerProcess,
        cli: (argv, env) => run(process.execPath, [BIN, ...argv], env),
        log,
      },
      ROWS,
    );

    const result = {
      date: new Date().toISOString().slice(0, 10),
      cores: cpus().length,
      rows: ROWS,
      chunkRows: CHUNK,
      pgTableMb: Math.round(pgBytes / 1048576),
      clickhouseServer: caps.version,
      server: {
        rawMs: a,
        pg2chMs: b.map((x) => x.ms),
        medianRatio: Number(median(ratios).toFixed(3)),
        rawRowsPerSec: rate(ROWS, median(a)),
        pg2chRowsPerSec: rate(ROWS, median(b.map((x) => x.ms))),
        workerPeakRssMb: Math.max(...b.map((x) => x.rss)),
        workerIdleRssMb: Math.max(...b.map((x) => x.idleRss)),
        workerPeakRssMbSmall: small.rss,
        smallRows: SMALL,
      },
      embedded: {
        pg2chMs: emb.ms,
        pg2chRowsPerSec: rate(ROWS, emb.ms),
        workerPeakRssMb: embRss,
        pullMs: pull.ms,
        pullRowsPerSec: rate(ROWS, pull.ms),
        pullPeakRssMb: pull.peakRssMb,
        ratioToPull: Number((pull.ms / emb.ms).toFixed(3)),
      },
      incremental: { newRows: NEW_ROWS, onFullMs: incBig, onSmallMs: incSmall, ratio: Number((incBig / incSmall).toFixed(2)) },
      startup: { helpMs, helpMedianMs: median(helpMs), syncOnceMs: onceMs, syncOnceMedianMs: median(onceMs) },
      cdc,
    };
    if (!args['no-write']) writeBenchmarks(result);
    if (args.json) process.stdout.write(JSON.stringify(result) + '\n');
    else process.stdout.write(markdown(result) + '\n');
    await connection.close();
    await ch.close();
    await pool.end();
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
}

type Result = Record<string, any>;

function markdown(r: Result): string {
  const s = r.server;
  const e = r.embedded;
  const i = r.incremental;
  const u = r.startup;
  return [
    `Run of ${r.date} on ${r.cores} cores: ${r.rows} activity_logs rows (${r.pgTableMb} MB in PostgreSQL), chunks of ${r.chunkRows}, ClickHouse server ${r.clickhouseServer}.`,
    '',
    '| path | wall | rows/s | peak RSS |',
    '| --- | --- | --- | --- |',
    `| a. raw pipe psql \\copy \\| curl -T - (median of ${s.rawMs.length}: ${s.rawMs.join(' / ')} ms) | ${median(s.rawMs)} ms | ${s.rawRowsPerSec} | - |`,
    `| b. pg2ch -> server, full Temporal path (${s.pg2chMs.join(' / ')} ms) | ${median(s.pg2chMs)} ms | ${s.pg2chRowsPerSec} | ${s.workerPeakRssMb} MB (${s.workerPeakRssMbSmall} MB at ${s.smallRows} rows) |`,
    `| c. pg2ch -> embedded engine | ${e.pg2chMs} ms | ${e.pg2chRowsPerSec} | ${e.workerPeakRssMb} MB |`,
    `| c'. embedded engine's own postgresql() pull | ${e.pullMs} ms | ${e.pullRowsPerSec} | ${e.pullPeakRssMb} MB |`,
    `| d. incremental ${i.newRows} new rows on ${r.rows} | ${i.onFullMs} ms | | |`,
    `| d'. incremental ${i.newRows} new rows on ${s.smallRows} | ${i.onSmallMs} ms | | |`,
    `| e. \`pg2ch --help\` (median of 5: ${u.helpMs.join(' / ')} ms) | ${u.helpMedianMs} ms | | |`,
    `| e'. \`pg2ch sync ${'bench_small'} --once\`, caught up (median of 5: ${u.syncOnceMs.join(' / ')} ms) | ${u.syncOnceMedianMs} ms | | |`,
    '',
    `Workers are started as the README starts them (\`pg2ch worker\`, workflow bundle built at install): idle ${s.workerIdleRssMb} MB, peak ${s.workerPeakRssMb} MB during the ${r.rows}-row sync.`,
    '',
    `Median throughput ratio b/a (raw time / pg2ch time): **${s.medianRatio}**. Embedded pg2ch vs the engine's own pull: **${e.ratioToPull}**. Incremental cost ratio (full / small table): **${i.ratio}**. Worker RSS ratio ${r.rows} vs ${s.smallRows} rows: **${(s.workerPeakRssMb / s.workerPeakRssMbSmall).toFixed(2)}**.`,
    ...(r.cdc ? [cdcMarkdown(r.cdc)] : []),
  ].join('\n');
}

function writeBenchmarks(r: Result): void {
  const file = join(__dirname, '..', 'BENCHMARKS.md');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmarks\n\n<!-- bench:start -->\n<!-- bench:end -->\n';
  }
  const block = `<!-- bench:start -->\n${markdown(r)}\n<!-- bench:end -->`;
  text = text.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, block);
  writeFileSync(file, text);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e?.stack ?? e}\n`);
  process.exit(1);
});

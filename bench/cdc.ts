// CDC phases of `npm run bench` (called from bench/run.ts):
//   f. throughput: a mode cdc stream started on an empty activity_logs-shaped table
//      (`pg2ch cdc start --config F`, worker started the README way), then N changes
//      written as fast as PostgreSQL takes them: INSERT ... SELECT generate_series in
//      transactions of up to 250,000 rows (80% of N), an UPDATE of 1 row in 8 (10%), a DELETE
//      of 1 row in 8 (10%). Timed from the start of the first write to the slot's
//      confirmed_flush_lsn passing the last transaction (pg2ch confirms a batch only after
//      it and its checkpoint are in ClickHouse, so this is "ClickHouse holds all of them").
//      Worker RSS is read when half of the WAL is confirmed and at the end, plus VmHWM.
//   g. latency: a writer commits 20 transactions/s of 100 inserted rows (2,000 changes/s)
//      for ~30 s; a poller reads max(id) FROM t FINAL WHERE _deleted = 0 every 100 ms
//      and each transaction's latency is from its COMMIT returning to its last id being
//      visible (both clocks of this process). Server only: the embedded engine is held by
//      the worker's process, so nothing else can read it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { parseLsn } from '../core/cdc';
import { createActivityLogs, seedActivityLogs } from '../devstack/activity-logs';
import { median, peakRssMb, rate, rssMb } from './measure';

export interface CdcDeps {
  pool: pg.Pool;
  dir: string;
  /** One-row query on the ClickHouse server. */
  chq: (sql: string) => Promise<Record<string, string>>;
  chCommand: (sql: string) => Promise<void>;
  /** Env of a worker writing into the server (database db) or into the embedded engine at chdbPath. */
  serverEnv: (queue: string, db: string) => NodeJS.ProcessEnv;
  embeddedEnv: (queue: string, db: string, chdbPath: string) => NodeJS.ProcessEnv;
  startWorker: (env: NodeJS.ProcessEnv) => Promise<{ pid: number; idleRss: number; stop(): Promise<number> }>;
  /** `pg2ch ...` as a user runs it; resolves with its stdout. */
  cli: (argv: string[], env: NodeJS.ProcessEnv) => Promise<string>;
  log: (s: string) => void;
}

const FIRST_ID = 9007199254740993n;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Changes of the throughput phase for a bench of `rows` rows: half of them, at least 100,000. */
export const cdcChanges = (rows: number) => Math.max(100_000, Math.round(rows / 2));

async function confirmedLsn(pool: pg.Pool, slot: string): Promise<bigint> {
  const r = await pool.query<{ l: string | null }>(`SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
  const l = r.rows[0]?.l;
  return l ? parseLsn(l) : 0n;
}

/** A fresh source table and stream: slot and publication of an earlier run dropped. */
async function freshStream(d: CdcDeps, table: string, stream: string): Promise<string> {
  await d.pool.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [`pg2ch_${stream}`]);
  await d.pool.query(`DROP PUBLICATION IF EXISTS pg2ch_${stream}`);
  await d.pool.query(`DROP TABLE IF EXISTS ${table}`);
  await createActivityLogs(d.pool, table);
  // properties is jsonb (may be stored out of line): cdc start requires FULL.
  await d.pool.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
  const config = join(d.dir, `${stream}.config.yaml`);
  writeFileSync(config, `tables:\n  ${table}: { mode: cdc, stream: ${stream} }\n`);
  return config;
}

/** Ends the stream as a user does: stop (writes what committed), then drop (slot and publication). */
async function endStream(d: CdcDeps, env: NodeJS.ProcessEnv, stream: string, config: string): Promise<void> {
  await d.cli(['cdc', 'stop', '--stream', stream, '--config', config], env);
  // The walsender may still hold the slot a moment after the workflow ended.
  for (let i = 0; ; i++) {
    try {
      await d.cli(['cdc', 'drop', '--stream', stream, '--config', config], env);
      return;
    } catch (e) {
      if (i >= 10 || !/in use/.test(String(e))) throw e;
      await sleep(1000);
    }
  }
}

/** f: N changes as fast as PostgreSQL takes them, into whichever target env points at (checked in verifyDb on the server). */
async function throughput(d: CdcDeps, env: NodeJS.ProcessEnv, table: string, stream: string, n: number, verifyDb?: string) {
  const config = await freshStream(d, table, stream);
  const w = await d.startWorker(env);
  try {
    await d.cli(['cdc', 'start', '--stream', stream, '--config', config], env);
    const inserts = Math.round(n * 0.8);
    const slot = `pg2ch_${stream}`;
    const startLsn = parseLsn((await d.pool.query<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`)).rows[0]!.l);
    const t0 = performance.now();
    await seedActivityLogs(d.pool, { firstId: FIRST_ID, count: inserts, table });
    const upd = await d.pool.query(`UPDATE ${table} SET user_id = user_id + 1, properties = properties || '{"seen": true}' WHERE id % 8 = 1`);
    // The last transaction: an LSN read inside it, before its commit, is passed only by a confirmation of that commit.
    const c = await d.pool.connect();
    let lastLsn: bigint;
    let del: number;
    try {
      await c.query('BEGIN');
      del = (await c.query(`DELETE FROM ${table} WHERE id % 8 = 2`)).rowCount ?? 0;
      lastLsn = parseLsn((await c.query<{ l: string }>(`SELECT pg_current_wal_insert_lsn()::text AS l`)).rows[0]!.l);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    const writeMs = Math.round(performance.now() - t0);
    const changes = inserts + (upd.rowCount ?? 0) + del;
    let rssHalf: number | undefined;
    const half = startLsn + (lastLsn - startLsn) / 2n;
    const deadline = Date.now() + 600_000;
    for (;;) {
      const at = await confirmedLsn(d.pool, slot);
      if (rssHalf === undefined && at >= half) rssHalf = rssMb(w.pid);
      if (at > lastLsn) break;
      if (Date.now() > deadline) throw new Error(`stream ${stream} did not confirm ${changes} changes in 10 minutes`);
      await sleep(50);
    }
    const ms = Math.round(performance.now() - t0);
    const rssEnd = rssMb(w.pid);
    const peak = peakRssMb(w.pid);
    if (verifyDb) {
      // What the timing took for "all there": the live rows match PostgreSQL's.
      const want = Number((await d.pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
      const got = Number((await d.chq(`SELECT toString(count()) AS n FROM ${verifyDb}.${table} FINAL WHERE _deleted = 0`)).n);
      if (got !== want) throw new Error(`stream ${stream}: ClickHouse holds ${got} live rows once confirmed, PostgreSQL ${want}`);
    }
    await endStream(d, env, stream, config);
    return { changes, inserts, updates: upd.rowCount ?? 0, deletes: del, writeMs, ms, changesPerSec: rate(changes, ms), rssHalfMb: rssHalf ?? rssEnd, rssEndMb: rssEnd, peakRssMb: peak, idleRssMb: w.idleRss };
  } finally {
    await w.stop();
  }
}

/** g: commit-to-visible latency at a steady rate, on the server. */
async function latency(d: CdcDeps, env: NodeJS.ProcessEnv, db: string, table: string, stream: string, opts: { perSec: number; seconds: number }) {
  const config = await freshStream(d, table, stream);
  const w = await d.startWorker(env);
  try {
    await d.cli(['cdc', 'start', '--stream', stream, '--config', config], env);
    const txPerSec = 20;
    const rowsPerTx = Math.round(opts.perSec / txPerSec);
    const marks: Array<{ lastId: bigint; committedAt: number; visibleAt?: number }> = [];
    let writing = true;
    const writer = (async () => {
      const c = await d.pool.connect();
      try {
        const t0 = performance.now();
        for (let i = 0; i < opts.seconds * txPerSec; i++) {
          // Absolute schedule: a slow commit is caught up, so the rate stays steady on average.
          const wait = t0 + (i * 1000) / txPerSec - performance.now();
          if (wait > 0) await sleep(wait);
          const first = FIRST_ID + BigInt(i * rowsPerTx);
          await c.query(
            `INSERT INTO ${table} (id, created_at, event_name, user_id, properties)
             SELECT $1::bigint + g, clock_timestamp() AT TIME ZONE 'UTC', 'page_view', g, jsonb_build_object('tx', $2::int)
             FROM generate_series(0, $3::int - 1) g`,
            [first.toString(), i, rowsPerTx],
          );
          marks.push({ lastId: first + BigInt(rowsPerTx - 1), committedAt: performance.now() });
        }
      } finally {
        c.release();
        writing = false;
      }
    })();
    const poller = (async () => {
      let next = 0;
      const deadline = () => Date.now() + 60_000;
      let giveUp = deadline();
      while (writing || next < marks.length) {
        const r = await d.chq(`SELECT toString(max(id)) AS m, toString(count()) AS n FROM ${db}.${table} FINAL WHERE _deleted = 0`).catch(() => undefined);
        const now = performance.now();
        if (r && Number(r.n) > 0) {
          const max = BigInt(r.m!);
          while (next < marks.length && marks[next]!.lastId <= max) marks[next++]!.visibleAt = now;
        }
        if (writing) giveUp = deadline();
        else if (Date.now() > giveUp) throw new Error(`stream ${stream}: ${marks.length - next} transactions not visible 60 s after the last commit`);
        await sleep(100);
      }
    })();
    await Promise.all([writer, poller]);
    const lat = marks.map((m) => m.visibleAt! - m.committedAt).sort((a, b) => a - b);
    const pct = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!);
    const peak = peakRssMb(w.pid);
    await endStream(d, env, stream, config);
    return { changesPerSec: opts.perSec, seconds: opts.seconds, transactions: marks.length, rowsPerTx, p50Ms: pct(50), p99Ms: pct(99), maxMs: Math.round(lat[lat.length - 1]!), medianMs: Math.round(median(lat)), peakRssMb: peak };
  } finally {
    await w.stop();
  }
}

export async function cdcPhases(d: CdcDeps, rows: number) {
  const n = cdcChanges(rows);
  const db = 'bench_cdc';
  await d.chCommand(`DROP DATABASE IF EXISTS ${db}`);
  await d.chCommand(`CREATE DATABASE ${db}`);
  d.log(`cdc throughput: ${n} changes -> server ...`);
  const server = await throughput(d, d.serverEnv('bench-cdc-server', db), 'bench_cdc_logs', 'bench_server', n, db);
  d.log(`  ${server.changesPerSec} changes/s, RSS ${server.rssHalfMb} MB at half, ${server.rssEndMb} MB at the end`);
  d.log(`cdc throughput: ${n} changes -> embedded engine ...`);
  const embedded = await throughput(d, d.embeddedEnv('bench-cdc-embedded', db, join(d.dir, 'chdb-cdc')), 'bench_cdc_emb', 'bench_embedded', n);
  d.log(`  ${embedded.changesPerSec} changes/s, RSS ${embedded.rssHalfMb} MB at half, ${embedded.rssEndMb} MB at the end`);
  d.log('cdc latency: 2,000 changes/s for 30 s -> server ...');
  const lat = await latency(d, d.serverEnv('bench-cdc-latency', db), db, 'bench_cdc_lat', 'bench_latency', { perSec: 2000, seconds: 30 });
  d.log(`  p50 ${lat.p50Ms} ms, p99 ${lat.p99Ms} ms`);
  return { changes: n, server, embedded, latency: lat };
}

type CdcResult = Awaited<ReturnType<typeof cdcPhases>>;

/** The CDC lines of the BENCHMARKS.md block, after the existing ones. */
export function cdcMarkdown(c: CdcResult): string {
  const s = c.server;
  const e = c.embedded;
  const l = c.latency;
  const row = (label: string, t: typeof s) =>
    `| ${label} | ${t.ms} ms (writes took ${t.writeMs} ms) | ${t.changesPerSec} changes/s | ${t.rssHalfMb} MB at half, ${t.rssEndMb} MB at the end (peak ${t.peakRssMb} MB, idle ${t.idleRssMb} MB) |`;
  return [
    '',
    `CDC (mode cdc, \`pg2ch cdc start --config F\`, default batches): ${c.changes} changes = ${s.inserts} inserted in transactions of up to 250,000 rows, ${s.updates} updated (1 row in 8), ${s.deletes} deleted (1 row in 8), timed from the first write to the slot confirming the last commit (confirmed only once ClickHouse holds it).`,
    '',
    '| path | wall | throughput | worker RSS |',
    '| --- | --- | --- | --- |',
    row(`f. cdc -> server, ${c.changes} changes`, s),
    row(`f'. cdc -> embedded engine, ${c.changes} changes`, e),
    '',
    'After f the server holds exactly the live rows of PostgreSQL (`count()` `FINAL`, checked); the embedded engine is held by its worker, so f\' is timed by the slot alone.',
    '',
    `g. CDC latency into the server at ${l.changesPerSec} changes/s for ${l.seconds} s (${l.transactions} transactions of ${l.rowsPerTx} inserted rows; COMMIT returned to visible in \`FINAL\`, polled every 100 ms): **p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms** (max ${l.maxMs} ms; worker peak RSS ${l.peakRssMb} MB). The embedded engine is held by the worker's process, so only its throughput is measured.`,
  ].join('\n');
}

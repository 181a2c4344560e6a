import { mkdirSync } from 'node:fs';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import type { ClickHouseTarget } from '../activities';
import { capabilitiesFor } from '../core/clickhouse-version';
import type { ClickHouseConfig, PostgresConfig } from '../core/config';
import { createDatabaseSql } from '../core/ddl';

/**
 * Session settings that make PostgreSQL's text output independent of the
 * server's and role's defaults (ISO dates, UTC, shortest exact floats), and
 * string literals parse as core/quote.ts writes them.
 */
const SESSION_OPTIONS =
  '-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=1 -c standard_conforming_strings=on';

export function createPgPool(cfg: PostgresConfig, max = 4): pg.Pool {
  const pool = new pg.Pool({
    connectionString: cfg.url,
    options: SESSION_OPTIONS,
    application_name: 'pg2ch',
    max,
    connectionTimeoutMillis: 10_000,
  });
  // An idle connection dropped by a restarting server must not crash the worker.
  pool.on('error', () => {});
  return pool;
}

function createClickHouseClient(cfg: ClickHouseConfig): { client: ClickHouseClient; rawInsert?: ClickHouseTarget['rawInsert'] } {
  if (cfg.kind === 'server') {
    const client = createClient({
      url: cfg.url,
      username: cfg.username,
      password: cfg.password,
      request_timeout: 30 * 60_000,
      compression: { request: false, response: false },
      // Errors are classified and reported by pg2ch, once, without secrets.
      log: { level: ClickHouseLogLevel.OFF },
      // Progress headers keep a long insert's connection from looking idle to
      // proxies; both settings exist on every server we support (18.16+).
      clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '10000' },
    });
    return { client };
  }
  mkdirSync(cfg.path, { recursive: true });
  // Loaded lazily: the native engine is only needed without CLICKHOUSE_URL.
  const { createChdbConnection } = require('chdb/connection') as typeof import('chdb/connection');
  const connection = createChdbConnection({ path: cfg.path });
  const client = createClient({ connection, log: { level: ClickHouseLogLevel.OFF } } as Parameters<typeof createClient>[0]);
  const rawInsert: ClickHouseTarget['rawInsert'] = async (p) => {
    await connection.chdb.rawInsert({
      table: p.table,
      columns: p.columns,
      values: p.values,
      format: 'TabSeparated',
      settings: p.settings,
      signal: p.signal,
    });
  };
  return { client, rawInsert };
}

/**
 * How this server reads an array inside a TabSeparated field: the field
 * ['a\\\\b'] is a\\b to a server that reads it as escaped text, and a\b to
 * one that unescapes the field first. Servers without format() (18.16) are the latter.
 */
async function readsArraysEscaped(client: ClickHouseClient): Promise<boolean> {
  try {
    const rs = await client.query({ query: `SELECT length(a[1]) AS n FROM format(TabSeparated, 'a Array(String)', '[''x\\\\\\\\y'']')`, format: 'JSONEachRow' });
    const [row] = await rs.json<{ n: number | string }>();
    return Number(row?.n) === 3;
  } catch {
    return false;
  }
}

/**
 * How long connecting waits for ClickHouse to answer its first queries. The
 * client's request_timeout stays long for streaming inserts of big chunks;
 * a server that accepts connections and never answers must still fail the
 * worker's start within this bound, not after request_timeout.
 */
export const CLICKHOUSE_CONNECT_TIMEOUT_MS = 15_000;

/** Rejects with `message` when `work` has not settled within `ms`. */
export async function withinTimeout<T>(ms: number, message: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connects, reads the server version to decide what SQL it understands, and creates the database. */
export async function connectClickHouse(cfg: ClickHouseConfig, timeoutMs = CLICKHOUSE_CONNECT_TIMEOUT_MS): Promise<ClickHouseTarget> {
  const { client, rawInsert } = createClickHouseClient(cfg);
  const connect = async () => {
    const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    const [row] = await rs.json<{ v: string }>();
    const caps = { ...capabilitiesFor(row!.v), arraysReadEscaped: await readsArraysEscaped(client) };
    // CREATE DATABASE ... ON CLUSTER may wait for every replica: not bounded here.
    return caps;
  };
  try {
    // The embedded engine answers in-process (opening a big data directory may take a while).
    const caps =
      cfg.kind === 'server'
        ? await withinTimeout(timeoutMs, `no answer within ${Math.round(timeoutMs / 1000)} s (the port accepts connections but never replies); check that CLICKHOUSE_URL names a ClickHouse HTTP port`, connect())
        : await connect();
    await client.command({ query: createDatabaseSql(cfg.database, cfg.cluster) });
    return { client, kind: cfg.kind, database: cfg.database, cluster: cfg.cluster, caps, rawInsert };
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
}

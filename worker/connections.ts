import { mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import type { ClickHouseTarget } from '../activities';
import { capabilitiesFor } from '../core/clickhouse-version';
import type { ClickHouseConfig, PostgresConfig } from '../core/config';
import { ensureOnCluster } from '../activities/cluster-ddl';
import { failoverClient } from './failover-client';
import { createDatabaseSql } from '../core/ddl';
import { UserError } from '../core/errors';
import { PIN_IF_PRESENT_SQL, sessionOptions } from '../core/pg-session';
import { clickHouseTlsOptions, pgTlsOptions } from '../core/tls';

/** Startup options pinning every setting that changes PostgreSQL's text output or could cut a COPY (core/pg-session.ts). */
const SESSION_OPTIONS = sessionOptions();

/** Where and how to connect, TLS included: every PostgreSQL connection pg2ch makes starts from this. */
export function pgConnection(cfg: PostgresConfig): { connectionString: string; ssl: pg.ClientConfig['ssl'] } {
  return { connectionString: cfg.url, ssl: pgTlsOptions(cfg.tls) };
}

/** node-postgres's error when the server answers a TLS request with no. */
const NO_TLS_ON_SERVER = /does not support SSL/i;

/**
 * sslmode allow and prefer as libpq means them, decided once at start: prefer
 * uses TLS (unchecked) when the server offers it, else none; allow connects
 * without TLS and uses it only when the server refuses that. The result is
 * no-verify or no TLS, so later connections never fall back on their own.
 */
export async function resolvePgTls(cfg: PostgresConfig): Promise<PostgresConfig> {
  const mode = cfg.tls?.mode;
  if (mode !== 'allow' && mode !== 'prefer') return cfg;
  const tls = { ...cfg.tls!, mode: 'no-verify' as const };
  const plain: PostgresConfig = { ...cfg, tls: undefined };
  const tries = async (c: PostgresConfig): Promise<unknown> => {
    const client = new pg.Client({ ...pgConnection(c), connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return null;
    } catch (err) {
      return err;
    } finally {
      await client.end().catch(() => {});
    }
  };
  if (mode === 'prefer') {
    const err = await tries({ ...cfg, tls });
    return err instanceof Error && NO_TLS_ON_SERVER.test(err.message) ? plain : { ...cfg, tls };
  }
  return (await tries(plain)) === null ? plain : { ...cfg, tls };
}

export function createPgPool(cfg: PostgresConfig, max = 4): pg.Pool {
  const pool = new pg.Pool({
    ...pgConnection(cfg),
    options: SESSION_OPTIONS,
    application_name: 'pg2ch',
    max,
    connectionTimeoutMillis: 10_000,
    // Awaited before the client is handed out, so it never runs beside its
    // first user's query; a failure fails that checkout like a failed connect.
    onConnect: async (client: pg.PoolClient) => {
      await client.query(PIN_IF_PRESENT_SQL);
    },
  } as pg.PoolConfig);
  // An idle connection dropped by a restarting server must not crash the worker.
  pool.on('error', () => {});
  return pool;
}

/**
 * The process holding the embedded engine's data directory, if another one
 * does: the engine writes its pid into <path>/status and keeps that file
 * open and locked while it runs. A file left by a killed process, or whose
 * pid now belongs to a process that does not hold it open, is no lock.
 */
export function chdbLockHolder(path: string): number | null {
  const status = join(path, 'status');
  let pid: number;
  try {
    pid = Number(/^PID: (\d+)/m.exec(readFileSync(status, 'utf8'))?.[1]);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    // No /proc (macOS) or not ours to read: a live pid is taken at its word.
    return pid;
  }
  const target = realpathSync(status);
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === target;
    } catch {
      return false;
    }
  })
    ? pid
    : null;
}

function assertNotLocked(path: string): void {
  const pid = chdbLockHolder(path);
  if (pid !== null) {
    throw new UserError(
      `PG2CH_CHDB_PATH ${path} is locked by another process (pid ${pid}: a running pg2ch worker or npm start?); stop it or set PG2CH_CHDB_PATH to another directory`,
      'ChdbPathLocked',
    );
  }
}

function createClickHouseClient(cfg: ClickHouseConfig): { client: ClickHouseClient; rawInsert?: ClickHouseTarget['rawInsert'] } {
  if (cfg.kind === 'server') {
    const one = (url: string) => createClient({
      url,
      username: cfg.username,
      password: cfg.password,
      ...(clickHouseTlsOptions(cfg.tls) ? { tls: clickHouseTlsOptions(cfg.tls) } : {}),
      request_timeout: 30 * 60_000,
      compression: { request: false, response: false },
      // Errors are classified and reported by pg2ch, once, without secrets.
      log: { level: ClickHouseLogLevel.OFF },
      // Progress headers keep a long insert's connection from looking idle to
      // proxies; both settings exist on every server we support (18.16+).
      clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '10000' },
    });
    // Several replicas: one client each, the worker moves on when one goes away.
    return { client: cfg.replicas && cfg.replicas.length > 1 ? failoverClient(cfg.replicas.map(one)) : one(cfg.url) };
  }
  mkdirSync(cfg.path, { recursive: true });
  // Asked before the engine opens the path: it prints its own lock error to stderr.
  assertNotLocked(cfg.path);
  // Loaded lazily: the native engine is only needed without CLICKHOUSE_URL.
  const { createChdbConnection } = require('chdb/connection') as typeof import('chdb/connection');
  let connection: ReturnType<typeof createChdbConnection>;
  try {
    connection = createChdbConnection({ path: cfg.path });
  } catch (err) {
    // The engine's error says only "Failed to create connection for path".
    assertNotLocked(cfg.path);
    throw err;
  }
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

const NOT_CLICKHOUSE = "it is not a ClickHouse server; set CLICKHOUSE_URL to ClickHouse's HTTP interface (port 8123 by default, 8443 with https)";

/** A web page's title, or its first text, short and on one line. */
function pageTitle(html: string): string {
  const title = /<title[^>]*>([^<]*)</i.exec(html)?.[1] ?? html.replace(/<[^>]*>/g, ' ');
  const text = title.replace(/\s+/g, ' ').trim();
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * Something else listening at CLICKHOUSE_URL (a web server, a proxy's error
 * page) answers with HTML, which the client would report as the error's
 * whole text; ClickHouse's own errors are plain text with a code.
 */
export function notClickHouseError(err: unknown): UserError | null {
  const message = err instanceof Error ? err.message : '';
  if ((err as { code?: unknown })?.code !== undefined || !/^\s*<|<html[\s>]/i.test(message)) return null;
  const title = pageTitle(message);
  return new UserError(`${NOT_CLICKHOUSE}: it answered with a web page${title ? ` (${JSON.stringify(title)})` : ''}`, 'NotClickHouse');
}

/** ClickHouse servers (18.16 and later) name themselves in X-ClickHouse-* headers of every answer. */
const hasClickHouseHeaders = (headers: Record<string, unknown>) => Object.keys(headers).some((h) => h.toLowerCase().startsWith('x-clickhouse-'));

/** The server's version, from an answer that is ClickHouse's. */
async function serverVersion(client: ClickHouseClient, kind: ClickHouseConfig['kind']): Promise<string> {
  try {
    const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    if (kind === 'server' && !hasClickHouseHeaders(rs.response_headers)) {
      rs.close();
      throw new UserError(`${NOT_CLICKHOUSE}: its answer has no X-ClickHouse-* headers`, 'NotClickHouse');
    }
    const [row] = await rs.json<{ v: string }>();
    return row!.v;
  } catch (err) {
    throw (kind === 'server' && notClickHouseError(err)) || err;
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

/**
 * CREATE DATABASE IF NOT EXISTS, on a cluster only when a host lacks it: ON
 * CLUSTER waits for every host, and a worker must start with a replica down.
 */
export async function ensureDatabase(ch: ClickHouseTarget, cluster: string | undefined): Promise<void> {
  if (cluster && ch.kind === 'server') {
    await ensureOnCluster(ch, cluster, { database: ch.database, tables: [] }, () => [createDatabaseSql(ch.database, cluster)]);
    return;
  }
  await ch.client.command({ query: createDatabaseSql(ch.database) });
}

/** Connects, reads the server version to decide what SQL it understands, and creates the database. */
export async function connectClickHouse(cfg: ClickHouseConfig, timeoutMs = CLICKHOUSE_CONNECT_TIMEOUT_MS): Promise<ClickHouseTarget> {
  const { client, rawInsert } = createClickHouseClient(cfg);
  const connect = async () => ({ ...capabilitiesFor(await serverVersion(client, cfg.kind)), arraysReadEscaped: await readsArraysEscaped(client) });
  try {
    // The embedded engine answers in-process (opening a big data directory may take a while).
    const caps =
      cfg.kind === 'server'
        ? await withinTimeout(timeoutMs, `no answer within ${Math.round(timeoutMs / 1000)} s (the port accepts connections but never replies); check that CLICKHOUSE_URL names a ClickHouse HTTP port`, connect())
        : await connect();
    const target: ClickHouseTarget = {
      client, kind: cfg.kind, database: cfg.database, cluster: cfg.cluster, caps, rawInsert,
      ...(cfg.kind === 'server' ? { remoteAuth: { user: cfg.username, password: cfg.password } } : {}),
    };
    await ensureDatabase(target, cfg.cluster);
    return target;
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
}

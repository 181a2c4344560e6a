import { z } from 'zod';
import { chString, pgString } from './quote';

/**
 * Configuration comes from the environment only. Every value is checked at
 * start and a bad one is reported as one line naming the variable, so a typo
 * never surfaces later as an obscure connection error.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
}

export interface PostgresConfig {
  url: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export type ClickHouseConfig = {
  database: string;
  cluster?: string;
} & (
  | { kind: 'server'; url: string; username: string; password: string }
  | { kind: 'embedded'; path: string }
);

/** auto: pull where the embedded engine reads every column exactly, else push. */
export type CopyStrategySetting = 'auto' | 'push' | 'pull';

export interface WorkerConfig {
  postgres: PostgresConfig;
  clickhouse: ClickHouseConfig;
  temporal: TemporalConfig;
  copyStrategy: CopyStrategySetting;
}

type Env = Record<string, string | undefined>;

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);
const hostPort = z.string().regex(/^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/);
const taskQueue = z.string().min(1).max(200).regex(/^\S+$/);

function pick<T>(env: Env, name: string, schema: z.ZodType<T>, expected: string, fallback?: string): T {
  const raw = env[name] === undefined || env[name] === '' ? fallback : env[name];
  if (raw === undefined) throw new ConfigError(`${name} is not set: expected ${expected}`);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${name} is invalid: expected ${expected}, got ${JSON.stringify(raw)}`);
  return parsed.data;
}

/** Parses a URL without ever echoing it: it may hold a password. */
function parseSecretUrl(name: string, raw: string, protocols: string[], expected: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: expected ${expected}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} has scheme ${JSON.stringify(url.protocol.replace(/:$/, ''))}: expected ${expected}`);
  }
  if (!url.hostname) throw new ConfigError(`${name} has no host: expected ${expected}`);
  return url;
}

/** decodeURIComponent that reports a malformed %-escape as a ConfigError naming the variable. */
function decodePart(name: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`${name} has a malformed %-escape in its ${what}: percent-encode special characters (% as %25)`);
  }
}

const PG_EXPECTED = 'postgres://user:password@host:port/db';
const CH_EXPECTED = 'http(s)://user:password@host:port';

export function readPostgresConfig(env: Env): PostgresConfig {
  const raw = env.PG_URL;
  if (!raw) throw new ConfigError(`PG_URL is not set: expected ${PG_EXPECTED}`);
  const url = parseSecretUrl('PG_URL', raw, ['postgres:', 'postgresql:'], PG_EXPECTED);
  const database = decodePart('PG_URL', url.pathname.replace(/^\//, ''), 'database');
  if (!database) throw new ConfigError(`PG_URL names no database: expected ${PG_EXPECTED}`);
  if (!url.username) throw new ConfigError(`PG_URL names no user: expected ${PG_EXPECTED}`);
  return {
    url: raw,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 5432,
    database,
    user: decodePart('PG_URL', url.username, 'user'),
    password: decodePart('PG_URL', url.password, 'password'),
  };
}

export function readClickHouseConfig(env: Env): ClickHouseConfig {
  const database = pick(env, 'CLICKHOUSE_DATABASE', identifier, 'a ClickHouse database name such as analytics', 'analytics');
  const cluster = env.CLICKHOUSE_CLUSTER
    ? pick(env, 'CLICKHOUSE_CLUSTER', identifier, 'a cluster name from the server config, such as default')
    : undefined;
  const raw = env.CLICKHOUSE_URL;
  if (!raw) {
    const path = env.PG2CH_CHDB_PATH || '.pg2ch/clickhouse';
    return { kind: 'embedded', path, database, ...(cluster ? { cluster } : {}) };
  }
  const url = parseSecretUrl('CLICKHOUSE_URL', raw, ['http:', 'https:'], CH_EXPECTED);
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new ConfigError(`CLICKHOUSE_URL must not have a path; set the database with CLICKHOUSE_DATABASE`);
  }
  const username = decodePart('CLICKHOUSE_URL', url.username, 'user') || 'default';
  const password = decodePart('CLICKHOUSE_URL', url.password, 'password');
  url.username = '';
  url.password = '';
  return { kind: 'server', url: url.toString().replace(/\/$/, ''), username, password, database, ...(cluster ? { cluster } : {}) };
}

export function readTemporalConfig(env: Env): TemporalConfig {
  return {
    address: pick(env, 'TEMPORAL_ADDRESS', hostPort, 'host:port such as 127.0.0.1:7233', '127.0.0.1:7233'),
    namespace: pick(env, 'TEMPORAL_NAMESPACE', z.string().min(1).regex(/^\S+$/), 'a namespace name such as default', 'default'),
    taskQueue: pick(env, 'PG2CH_TASK_QUEUE', taskQueue, 'a task queue name without spaces, such as pg2ch', 'pg2ch'),
  };
}

export function readWorkerConfig(env: Env): WorkerConfig {
  return {
    temporal: readTemporalConfig(env),
    postgres: readPostgresConfig(env),
    clickhouse: readClickHouseConfig(env),
    copyStrategy: pick(env, 'PG2CH_COPY_STRATEGY', z.enum(['auto', 'push', 'pull']), 'auto, push or pull', 'auto'),
  };
}

/** Every value that must never appear in a log line, error or workflow history. */
export function secretsOf(config: Pick<WorkerConfig, 'postgres' | 'clickhouse'>): string[] {
  const passwords = [config.postgres.password];
  if (config.clickhouse.kind === 'server') passwords.push(config.clickhouse.password);
  // Also as the SQL literals quoting makes of them (the pull query embeds one).
  // Passwords first, so a URL is redacted to user:***@host rather than whole.
  const out = [...passwords.flatMap((p) => [p, chString(p).slice(1, -1), pgString(p).slice(1, -1)]), config.postgres.url];
  return [...new Set(out.filter((s) => s.length >= 3))];
}

/**
 * Largest chunk: below ClickHouse's max_insert_block_size (1,048,576 rows), so
 * a chunk is one insert block, written whole or not at all.
 */
export const MAX_CHUNK_ROWS = 1_000_000;

/** Positive integer option such as --chunk-rows; rejects 0, negatives and fractions. */
export function parsePositiveInt(name: string, raw: string, max = MAX_CHUNK_ROWS): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

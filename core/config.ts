import { z } from 'zod';
import { chString, pgString } from './quote';

import { ConfigError } from './options';

// Defined apart from zod so the CLI parses its arguments without loading it.
export { ConfigError, MAX_CHUNK_ROWS, parsePositiveInt } from './options';

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
}

export interface PostgresConfig {
  /** For the driver: PG_URL, with an sslmode the driver aliases spelled as what it does (pgDriverUrl). */
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

/** What to do about a user or password holding a character URLs reserve. */
const PERCENT_ENCODE = 'percent-encode special characters in the user and password (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)';

/**
 * The URL as it would be with its user and password percent-encoded: they run
 * from the scheme to the last @, up to the first : of them the user. Null
 * when there is no user part.
 */
function withEncodedUserinfo(raw: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@([^@]*)$/is.exec(raw);
  if (!m) return null;
  const info = m[2]!;
  const colon = info.indexOf(':');
  const enc = (part: string) => encodeURIComponent(part);
  const userinfo = colon < 0 ? enc(info) : `${enc(info.slice(0, colon))}:${enc(info.slice(colon + 1))}`;
  return `${m[1]}${userinfo}@${m[3]}`;
}

function tryUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

/** Parses a URL without ever echoing it: it may hold a password. */
function parseSecretUrl(name: string, raw: string, protocols: string[], expected: string): URL {
  const url = tryUrl(raw);
  // A raw @ / ? # in a password makes the URL invalid, or moves its host
  // (postgres://u:12#x@h/db is host u, port 12): told apart by encoding them.
  const encoded = withEncodedUserinfo(raw);
  const fixed = encoded === null || encoded === raw ? null : tryUrl(encoded);
  if (fixed && (!url || url.host !== fixed.host)) {
    throw new ConfigError(`${name} is not a valid URL: ${PERCENT_ENCODE}`);
  }
  if (!url) throw new ConfigError(`${name} is not a valid URL: expected ${expected}`);
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
    throw new ConfigError(`${name} has a malformed %-escape in its ${what}: ${PERCENT_ENCODE}`);
  }
}

const PG_EXPECTED = 'postgres://user:password@host:port/db';
const CH_EXPECTED = 'http(s)://user:password@host:port';

/**
 * PG_URL as handed to the driver. node-postgres treats sslmode prefer,
 * require and verify-ca as verify-full (certificate and host name checked)
 * and prints a nine-line warning saying so before any error; naming that
 * mode ourselves keeps exactly its checks and drops the noise. With
 * uselibpqcompat=true the driver follows libpq and does not warn.
 */
export function pgDriverUrl(raw: string): string {
  if (/[?&]uselibpqcompat=true(&|$)/.test(raw)) return raw;
  return raw.replace(/([?&]sslmode=)(prefer|require|verify-ca)(?=&|#|$)/g, '$1verify-full');
}

export function readPostgresConfig(env: Env): PostgresConfig {
  const raw = env.PG_URL;
  if (!raw) throw new ConfigError(`PG_URL is not set: expected ${PG_EXPECTED}`);
  const url = parseSecretUrl('PG_URL', raw, ['postgres:', 'postgresql:'], PG_EXPECTED);
  const database = decodePart('PG_URL', url.pathname.replace(/^\//, ''), 'database');
  if (!database) throw new ConfigError(`PG_URL names no database: expected ${PG_EXPECTED}`);
  if (!url.username) throw new ConfigError(`PG_URL names no user: expected ${PG_EXPECTED}`);
  return {
    url: pgDriverUrl(raw),
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


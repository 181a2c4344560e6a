import { z } from 'zod';
import { chString, pgString } from './quote';
import { clientPair, libpqDefaultRootCert, nodeIo, pemBody, pemFromEnv, readPemFile, type FileIo } from './tls';

import { ConfigError } from './options';

// Defined apart from zod so the CLI parses its arguments without loading it.
export { ConfigError, MAX_CHUNK_ROWS, parsePositiveInt } from './options';

/** TLS to Temporal; PEM text, read and checked at start. No ca: the system's trusted roots. */
export interface TemporalTls {
  ca?: string;
  clientCert?: { cert: string; key: string };
  serverName?: string;
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  /** Present when TLS is on (TEMPORAL_TLS*, or an API key). */
  tls?: TemporalTls;
  /** TEMPORAL_API_KEY: a secret, never in a payload, log or error. */
  apiKey?: string;
}

/** libpq's sslmode values, and node-postgres's no-verify (require that never checks a certificate). */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/**
 * TLS to PostgreSQL with libpq's meaning of each sslmode (pgTlsOptions in core/tls.ts
 * turns it into the driver's options). ca undefined under verify-full: the
 * system's trusted roots (sslrootcert=system).
 */
export interface PgTls {
  mode: Exclude<SslMode, 'disable'>;
  ca?: string;
  clientCert?: { cert: string; key: string };
}

export interface PostgresConfig {
  /** For the driver: PG_URL without its TLS parameters, which are in tls (pgDriverUrl). */
  url: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Absent: no TLS (sslmode=disable, or none given). */
  tls?: PgTls;
}

/** TLS to a ClickHouse server beyond an https URL's defaults: a private CA, a client certificate. */
export interface ClickHouseTls {
  ca?: string;
  clientCert?: { cert: string; key: string };
}

export type ClickHouseConfig = {
  database: string;
  cluster?: string;
} & (
  | {
      kind: 'server';
      /** The first (or only) URL CLICKHOUSE_URL lists, without credentials. */
      url: string;
      username: string;
      password: string;
      tls?: ClickHouseTls;
      /** Every URL when CLICKHOUSE_URL lists several replicas (comma-separated): the worker fails over between them. */
      replicas?: string[];
    }
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

/** PG_URL's parameters that say how to use TLS: read by pg2ch, never left for the driver to read its own way. */
const PG_TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'sslnegotiation', 'uselibpqcompat', 'ssl'];

/**
 * PG_URL as handed to the driver: without its TLS parameters. node-postgres
 * reads sslmode its own way (require and verify-ca checked as verify-full)
 * and a connection string's ssl settings override the ones pg2ch passes, so
 * pg2ch reads them itself with libpq's meaning (readPgTls) and removes them.
 */
export function pgDriverUrl(raw: string): string {
  // The query starts after the user part (a password may hold an encoded ?, never a raw one: see parseSecretUrl).
  const q = raw.indexOf('?', raw.lastIndexOf('@') + 1);
  if (q < 0) return raw;
  const hash = raw.indexOf('#', q);
  const end = hash < 0 ? raw.length : hash;
  const kept = raw
    .slice(q + 1, end)
    .split('&')
    .filter((p) => p !== '' && !PG_TLS_PARAMS.includes(p.split('=')[0]!.toLowerCase()));
  return `${raw.slice(0, q)}${kept.length ? `?${kept.join('&')}` : ''}${raw.slice(end)}`;
}

const SSLMODE_EXPECTED = 'disable, allow, prefer, require, verify-ca or verify-full';

/**
 * TLS settings as libpq reads them: the URL's sslmode, sslrootcert, sslcert
 * and sslkey, else PGSSLMODE, PGSSLROOTCERT, PGSSLCERT and PGSSLKEY, and
 * ~/.postgresql/root.crt as the default root certificate. One difference: no
 * sslmode at all means no TLS (libpq's default is prefer).
 */
export function readPgTls(url: URL, env: Env, io: FileIo = nodeIo): PgTls | undefined {
  const param = (name: string, envName: string) => url.searchParams.get(name) ?? (env[envName] || undefined);
  const fail = (m: string) => new ConfigError(m);
  if (url.searchParams.get('sslnegotiation') === 'direct') {
    throw new ConfigError('PG_URL has sslnegotiation=direct, which pg2ch does not support: remove it (the server is asked for TLS first, as by default)');
  }
  // node-postgres's ssl=true/false, taken at its word: TLS checked as verify-full, or none.
  const legacy = url.searchParams.get('ssl');
  let raw = param('sslmode', 'PGSSLMODE');
  if (raw === undefined && legacy !== null) raw = /^(true|1)$/i.test(legacy) ? 'verify-full' : 'disable';
  // ssl=true as node-postgres meant it: checked against the system's roots unless a root certificate is named.
  const rootParam = param('sslrootcert', 'PGSSLROOTCERT') ?? (raw === 'verify-full' && legacy !== null && url.searchParams.get('sslmode') === null ? 'system' : undefined);
  // libpq 16+: sslrootcert=system means the system's roots, and verify-full unless a weaker mode is named (refused).
  if (raw === undefined && rootParam === 'system') raw = 'verify-full';
  if (raw === undefined || raw === 'disable') return undefined;
  const where = url.searchParams.get('sslmode') !== null ? 'PG_URL has sslmode' : 'PGSSLMODE is';
  if (!(SSL_MODES as readonly string[]).includes(raw)) throw new ConfigError(`${where} ${JSON.stringify(raw)}: expected ${SSLMODE_EXPECTED}`);
  const mode = raw as PgTls['mode'];
  // Named as the user set it: the URL's parameter, else the variable (the URL's when neither is set).
  const what = (name: string, envName: string) => (url.searchParams.get(name) === null && env[envName] ? envName : `PG_URL ${name}`);
  const rootWhat = what('sslrootcert', 'PGSSLROOTCERT');
  let ca: string | undefined;
  if (rootParam === 'system') {
    if (mode !== 'verify-full') throw new ConfigError(`PG_URL: sslrootcert=system needs sslmode=verify-full, not ${mode} (as in libpq)`);
  } else if (rootParam !== undefined) {
    if (mode !== 'no-verify') ca = readPemFile(rootWhat, rootParam, 'certificate', io, fail);
  } else if (mode === 'require' || mode === 'verify-ca' || mode === 'verify-full') {
    const fallback = libpqDefaultRootCert(io);
    if (io.exists(fallback)) ca = readPemFile('the default root certificate', fallback, 'certificate', io, fail);
  }
  if ((mode === 'verify-ca' || mode === 'verify-full') && ca === undefined && rootParam !== 'system') {
    throw new ConfigError(
      `PG_URL has sslmode=${mode} but no root certificate: add sslrootcert=/path/to/ca.crt (or sslrootcert=system for the system's trusted roots) to PG_URL, or put it in ~/.postgresql/root.crt`,
    );
  }
  const certPath = param('sslcert', 'PGSSLCERT');
  const keyPath = param('sslkey', 'PGSSLKEY');
  const certWhat = what('sslcert', 'PGSSLCERT');
  const keyWhat = what('sslkey', 'PGSSLKEY');
  const cert = certPath === undefined ? undefined : readPemFile(certWhat, certPath, 'certificate', io, fail);
  const key = keyPath === undefined ? undefined : readPemFile(keyWhat, keyPath, 'key', io, fail);
  const clientCert = clientPair(certWhat, keyWhat, cert, key, fail);
  return { mode, ...(ca !== undefined ? { ca } : {}), ...(clientCert ? { clientCert } : {}) };
}

export function readPostgresConfig(env: Env, io: FileIo = nodeIo): PostgresConfig {
  const raw = env.PG_URL;
  if (!raw) throw new ConfigError(`PG_URL is not set: expected ${PG_EXPECTED}`);
  const url = parseSecretUrl('PG_URL', raw, ['postgres:', 'postgresql:'], PG_EXPECTED);
  const database = decodePart('PG_URL', url.pathname.replace(/^\//, ''), 'database');
  if (!database) throw new ConfigError(`PG_URL names no database: expected ${PG_EXPECTED}`);
  if (!url.username) throw new ConfigError(`PG_URL names no user: expected ${PG_EXPECTED}`);
  const tls = readPgTls(url, env, io);
  return {
    url: pgDriverUrl(raw),
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 5432,
    database,
    user: decodePart('PG_URL', url.username, 'user'),
    password: decodePart('PG_URL', url.password, 'password'),
    ...(tls ? { tls } : {}),
  };
}

const CLICKHOUSE_TLS_VARS = ['CA', 'CERT', 'KEY'].flatMap((p) => ['PATH', 'DATA'].map((s) => `CLICKHOUSE_TLS_${p}_${s}`));

/** CLICKHOUSE_TLS_CA_*, CLICKHOUSE_TLS_CERT_* and CLICKHOUSE_TLS_KEY_* (each _PATH or _DATA), for an https URL only. */
function readClickHouseTls(env: Env, https: boolean, io: FileIo): ClickHouseTls | undefined {
  const fail = (m: string) => new ConfigError(m);
  const set = CLICKHOUSE_TLS_VARS.find((n) => env[n]);
  if (!set) return undefined;
  if (!https) throw new ConfigError(`${set} is set but CLICKHOUSE_URL is not https://: use https:// (ClickHouse's https port, 8443 by default) or unset it`);
  const ca = pemFromEnv(env, 'CLICKHOUSE_TLS_CA', 'certificate', io, fail);
  const cert = pemFromEnv(env, 'CLICKHOUSE_TLS_CERT', 'certificate', io, fail);
  const key = pemFromEnv(env, 'CLICKHOUSE_TLS_KEY', 'key', io, fail);
  const clientCert = clientPair(pemVar(env, 'CLICKHOUSE_TLS_CERT'), pemVar(env, 'CLICKHOUSE_TLS_KEY'), cert, key, fail);
  // @clickhouse/client takes a client certificate only beside a CA.
  if (clientCert && ca === undefined) {
    throw new ConfigError(`${pemVar(env, 'CLICKHOUSE_TLS_CERT')} is set without CLICKHOUSE_TLS_CA_PATH: a client certificate needs the CA that signed the server certificate`);
  }
  return { ...(ca !== undefined ? { ca } : {}), ...(clientCert ? { clientCert } : {}) };
}

/**
 * CLICKHOUSE_URL's replicas: split at commas that start another URL
 * (scheme://...) or a bare host:port, so a comma inside a password stays.
 */
export function splitClickHouseUrls(raw: string): string[] {
  return raw
    .split(/,(?=\s*(?:https?:\/\/|[A-Za-z0-9.\-]+:\d+\/?\s*(?:,|$)|\[[0-9A-Fa-f:]+\]:\d+\/?\s*(?:,|$)))/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

export function readClickHouseConfig(env: Env, io: FileIo = nodeIo): ClickHouseConfig {
  const database = pick(env, 'CLICKHOUSE_DATABASE', identifier, 'a ClickHouse database name such as analytics', 'analytics');
  const cluster = env.CLICKHOUSE_CLUSTER
    ? pick(env, 'CLICKHOUSE_CLUSTER', identifier, 'a cluster name from the server config, such as default')
    : undefined;
  const raw = env.CLICKHOUSE_URL;
  if (!raw) {
    const tlsVar = CLICKHOUSE_TLS_VARS.find((n) => env[n]);
    if (tlsVar) throw new ConfigError(`${tlsVar} is set but CLICKHOUSE_URL is not: the embedded engine takes no TLS; set CLICKHOUSE_URL=https://... or unset ${tlsVar}`);
    const path = env.PG2CH_CHDB_PATH || '.pg2ch/clickhouse';
    return { kind: 'embedded', path, database, ...(cluster ? { cluster } : {}) };
  }
  const [first, ...more] = splitClickHouseUrls(raw);
  const url = parseSecretUrl('CLICKHOUSE_URL', first!, ['http:', 'https:'], CH_EXPECTED);
  const username = decodePart('CLICKHOUSE_URL', url.username, 'user') || 'default';
  const password = decodePart('CLICKHOUSE_URL', url.password, 'password');
  const plain = (u: URL) => {
    if (u.pathname !== '/' && u.pathname !== '') {
      throw new ConfigError(`CLICKHOUSE_URL must not have a path; set the database with CLICKHOUSE_DATABASE`);
    }
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  };
  const urls = [plain(url)];
  for (const part of more) {
    // A bare host:port takes the first URL's scheme and credentials.
    const u = parseSecretUrl('CLICKHOUSE_URL', part.includes('://') ? part : `${url.protocol}//${part}`, ['http:', 'https:'], CH_EXPECTED);
    if (u.username && (decodePart('CLICKHOUSE_URL', u.username, 'user') !== username || decodePart('CLICKHOUSE_URL', u.password, 'password') !== password)) {
      throw new ConfigError('CLICKHOUSE_URL lists replicas with different credentials: pg2ch uses one user and password for all of them; give them on the first URL only');
    }
    urls.push(plain(u));
  }
  const tls = readClickHouseTls(env, url.protocol === 'https:', io);
  return { kind: 'server', url: urls[0]!, username, password, database, ...(urls.length > 1 ? { replicas: urls } : {}), ...(cluster ? { cluster } : {}), ...(tls ? { tls } : {}) };
}

/** The variable of a _PATH/_DATA pair the user set (the _PATH one when neither is), for messages. */
const pemVar = (env: Env, prefix: string) => (!env[`${prefix}_PATH`] && env[`${prefix}_DATA`] ? `${prefix}_DATA` : `${prefix}_PATH`);

const TEMPORAL_TLS_VARS = ['TEMPORAL_TLS_CA_PATH', 'TEMPORAL_TLS_CA_DATA', 'TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_CERT_DATA', 'TEMPORAL_TLS_KEY_PATH', 'TEMPORAL_TLS_KEY_DATA', 'TEMPORAL_TLS_SERVER_NAME'];

/**
 * TLS to Temporal, with the Temporal CLI's variable names: on when
 * TEMPORAL_TLS=true, when a certificate, key or server name is given, or
 * with an API key (Temporal Cloud); TEMPORAL_TLS=false keeps it off for an
 * API key sent over a plain connection (a local proxy).
 */
function readTemporalTls(env: Env, apiKey: string | undefined, io: FileIo): TemporalTls | undefined {
  const fail = (m: string) => new ConfigError(m);
  const flag = env.TEMPORAL_TLS ? pick(env, 'TEMPORAL_TLS', z.enum(['true', 'false', '1', '0']), 'true or false') : undefined;
  const given = TEMPORAL_TLS_VARS.find((n) => env[n]);
  if (flag === 'false' || flag === '0') {
    if (given) throw new ConfigError(`TEMPORAL_TLS is false but ${given} is set: unset one of them`);
    return undefined;
  }
  if (flag === undefined && !given && apiKey === undefined) return undefined;
  const ca = pemFromEnv(env, 'TEMPORAL_TLS_CA', 'certificate', io, fail);
  const cert = pemFromEnv(env, 'TEMPORAL_TLS_CERT', 'certificate', io, fail);
  const key = pemFromEnv(env, 'TEMPORAL_TLS_KEY', 'key', io, fail);
  const clientCert = clientPair(pemVar(env, 'TEMPORAL_TLS_CERT'), pemVar(env, 'TEMPORAL_TLS_KEY'), cert, key, fail);
  const serverName = env.TEMPORAL_TLS_SERVER_NAME
    ? pick(env, 'TEMPORAL_TLS_SERVER_NAME', z.string().regex(/^[A-Za-z0-9.-]+$/), 'a host name such as temporal.internal')
    : undefined;
  return { ...(ca !== undefined ? { ca } : {}), ...(clientCert ? { clientCert } : {}), ...(serverName ? { serverName } : {}) };
}

export function readTemporalConfig(env: Env, io: FileIo = nodeIo): TemporalConfig {
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  // Never echoed: a key with a space or newline is a pasting mistake, named without its value.
  if (apiKey !== undefined && /\s/.test(apiKey)) throw new ConfigError('TEMPORAL_API_KEY holds whitespace or a line break: set it to the key alone');
  const tls = readTemporalTls(env, apiKey, io);
  return {
    address: pick(env, 'TEMPORAL_ADDRESS', hostPort, 'host:port such as 127.0.0.1:7233', '127.0.0.1:7233'),
    namespace: pick(env, 'TEMPORAL_NAMESPACE', z.string().min(1).regex(/^\S+$/), 'a namespace name such as default', 'default'),
    taskQueue: pick(env, 'PG2CH_TASK_QUEUE', taskQueue, 'a task queue name without spaces, such as pg2ch', 'pg2ch'),
    ...(tls ? { tls } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
}

export function readWorkerConfig(env: Env, io: FileIo = nodeIo): WorkerConfig {
  return {
    temporal: readTemporalConfig(env, io),
    postgres: readPostgresConfig(env, io),
    clickhouse: readClickHouseConfig(env, io),
    copyStrategy: pick(env, 'PG2CH_COPY_STRATEGY', z.enum(['auto', 'push', 'pull']), 'auto, push or pull', 'auto'),
  };
}

/** Every value that must never appear in a log line, error or workflow history. */
export function secretsOf(config: Pick<WorkerConfig, 'postgres' | 'clickhouse'> & { temporal?: TemporalConfig }): string[] {
  const passwords = [config.postgres.password];
  if (config.clickhouse.kind === 'server') passwords.push(config.clickhouse.password);
  // Client keys whole and as their base64 body; the API key as is.
  const keys = [config.postgres.tls?.clientCert?.key, config.clickhouse.kind === 'server' ? config.clickhouse.tls?.clientCert?.key : undefined, config.temporal?.tls?.clientCert?.key]
    .filter((k): k is string => k !== undefined)
    .flatMap((k) => [k, k.trim(), pemBody(k)]);
  // Also as the SQL literals quoting makes of them (the pull query embeds one).
  // Passwords first, so a URL is redacted to user:***@host rather than whole.
  const out = [
    ...passwords.flatMap((p) => [p, chString(p).slice(1, -1), pgString(p).slice(1, -1)]),
    ...(config.temporal?.apiKey !== undefined ? [config.temporal.apiKey] : []),
    ...keys,
    config.postgres.url,
  ];
  return [...new Set(out.filter((s) => s.length >= 3))];
}

export type LogFormat = 'human' | 'json';

/** What the worker tells the outside about itself: Prometheus metrics and the log format. */
export interface ObservabilityConfig {
  /** host:port to serve /metrics on; undefined = no metrics (the default). */
  metricsAddress?: string;
  logFormat: LogFormat;
}

export function readObservabilityConfig(env: Env): ObservabilityConfig {
  const logFormat = pick(env, 'PG2CH_LOG_FORMAT', z.enum(['human', 'json']), 'human or json', 'human');
  if (!env.PG2CH_METRICS_ADDRESS) return { logFormat };
  const expected = 'host:port to serve Prometheus metrics on, such as 127.0.0.1:9464 or 0.0.0.0:9464';
  const address = pick(env, 'PG2CH_METRICS_ADDRESS', hostPort, expected);
  const port = Number(/:(\d+)$/.exec(address)![1]);
  if (port < 1 || port > 65535) throw new ConfigError(`PG2CH_METRICS_ADDRESS is invalid: expected ${expected}, got ${JSON.stringify(address)} (port out of 1-65535)`);
  return { metricsAddress: address, logFormat };
}

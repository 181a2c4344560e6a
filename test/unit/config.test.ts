import { describe, expect, it, vi } from 'vitest';
import {
  splitClickHouseUrls,
  ConfigError,
  parsePositiveInt,
  pgDriverUrl,
  readClickHouseConfig,
  readPostgresConfig,
  readTemporalConfig,
  readWorkerConfig,
  secretsOf,
} from '../../core/config';
import { redact } from '../../core/errors';
import { parse as parseConnectionString } from 'pg-connection-string';

const PG_EXPECTED = 'expected postgres://user:password@host:port/db';
const CH_EXPECTED = 'expected http(s)://user:password@host:port';

/** Runs fn, which must throw a ConfigError, and returns it. */
function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('ConfigError', () => {
  it('is an Error named ConfigError', () => {
    const e = new ConfigError('boom');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ConfigError');
    expect(e.message).toBe('boom');
    expect(String(e)).toBe('ConfigError: boom');
  });
});

describe('readPostgresConfig', () => {
  it('parses every part of a full URL', () => {
    expect(readPostgresConfig({ PG_URL: 'postgres://pg2ch:hunter2@db.example:6543/app' })).toStrictEqual({
      url: 'postgres://pg2ch:hunter2@db.example:6543/app',
      host: 'db.example',
      port: 6543,
      database: 'app',
      user: 'pg2ch',
      password: 'hunter2',
    });
  });

  it('accepts the postgresql: scheme and defaults the port to 5432', () => {
    expect(readPostgresConfig({ PG_URL: 'postgresql://u:pw@localhost/db' })).toStrictEqual({
      url: 'postgresql://u:pw@localhost/db',
      host: 'localhost',
      port: 5432,
      database: 'db',
      user: 'u',
      password: 'pw',
    });
  });

  it('allows a URL without a password', () => {
    const c = readPostgresConfig({ PG_URL: 'postgres://reader@h:5433/db' });
    expect(c.user).toBe('reader');
    expect(c.password).toBe('');
    expect(c.port).toBe(5433);
  });

  it('decodes percent-encoded user, password and database', () => {
    const c = readPostgresConfig({ PG_URL: 'postgres://us%40er:p%40ss%3Aw%2Frd@h/my%20db' });
    expect(c.user).toBe('us@er');
    expect(c.password).toBe('p@ss:w/rd');
    expect(c.database).toBe('my db');
    // The raw URL is kept exactly as given, for the driver.
    expect(c.url).toBe('postgres://us%40er:p%40ss%3Aw%2Frd@h/my%20db');
  });

  describe('the TLS parameters are read by pg2ch (test/unit/tls-config.test.ts) and left out of the driver\'s URL', () => {
    it.each([
      ['postgres://u:pw@h/db?sslmode=require', 'postgres://u:pw@h/db'],
      ['postgres://u:pw@h/db?application_name=x&sslmode=verify-ca&sslrootcert=/x/ca.crt&connect_timeout=5', 'postgres://u:pw@h/db?application_name=x&connect_timeout=5'],
      ['postgres://u:pw@h/db?sslmode=disable&application_name=x', 'postgres://u:pw@h/db?application_name=x'],
      ['postgres://u:pw@h/db?uselibpqcompat=true&sslmode=require', 'postgres://u:pw@h/db'],
      ['postgres://u:require@h/db', 'postgres://u:require@h/db'],
    ])('%s -> %s', (url, driver) => {
      expect(pgDriverUrl(url)).toBe(driver);
    });

    it('so the driver finds no ssl setting of its own there and prints no warning', () => {
      const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      try {
        const parsed = parseConnectionString(pgDriverUrl('postgres://u:pw@h/db?sslmode=require&sslrootcert=/nonexistent/ca.crt'));
        expect(parsed.ssl).toBeUndefined();
        expect(emitWarning).not.toHaveBeenCalled();
      } finally {
        emitWarning.mockRestore();
      }
    });
  });

  it('strips the brackets from an IPv6 host', () => {
    const c = readPostgresConfig({ PG_URL: 'postgres://u:pw@[::1]:6543/db' });
    expect(c.host).toBe('::1');
    expect(c.port).toBe(6543);
  });

  it('reports a missing PG_URL', () => {
    expect(() => readPostgresConfig({})).toThrowError(new ConfigError(`PG_URL is not set: ${PG_EXPECTED}`));
  });

  it('treats an empty PG_URL as missing', () => {
    expect(configErrorOf(() => readPostgresConfig({ PG_URL: '' })).message).toBe(`PG_URL is not set: ${PG_EXPECTED}`);
  });

  it.each([
    ['mysql://u:pw@h/db', 'mysql'],
    ['http://u:pw@h/db', 'http'],
    ['jdbc:postgresql://h/db', 'jdbc'],
    ['db.example:5432/app', 'db.example'],
  ])('rejects the scheme of %s', (url, scheme) => {
    expect(configErrorOf(() => readPostgresConfig({ PG_URL: url })).message).toBe(
      `PG_URL has scheme "${scheme}": ${PG_EXPECTED}`,
    );
  });

  it.each(['not a url', '//u:pw@h/db', 'postgres://u:pw@h:99999/db', 'postgres://u:pw@h:port/db'])(
    'rejects %j as not a URL',
    (url) => {
      expect(configErrorOf(() => readPostgresConfig({ PG_URL: url })).message).toBe(
        `PG_URL is not a valid URL: ${PG_EXPECTED}`,
      );
    },
  );

  describe('a raw special character in the password gets the percent-encoding hint', () => {
    const HINT = 'percent-encode special characters in the user and password (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)';
    it.each(['p/ss', 'p#ss', 'p?ss', '12#x', '12/x', 'a@b:c/d#f'])('PG_URL with password %j', (pw) => {
      const e = configErrorOf(() => readPostgresConfig({ PG_URL: `postgres://user:${pw}@db.example:5432/app` }));
      expect(e.message).toBe(`PG_URL is not a valid URL: ${HINT}`);
      expect(e.message).not.toContain(pw);
    });

    it.each(['p/ss', 'p#ss', '12#x', 'a@b:c/d#f'])('CLICKHOUSE_URL with password %j', (pw) => {
      const e = configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: `http://user:${pw}@ch.example:8123` }));
      expect(e.message).toBe(`CLICKHOUSE_URL is not a valid URL: ${HINT}`);
    });

    it('a lone % is a malformed escape, with the same hint', () => {
      expect(configErrorOf(() => readPostgresConfig({ PG_URL: 'postgres://user:p%ss@h/app' })).message).toBe(
        `PG_URL has a malformed %-escape in its password: ${HINT}`,
      );
    });

    it.each([['p@ss'], ['p:ss']])('a raw %j is unambiguous and accepted as it is', (pw) => {
      const c = readPostgresConfig({ PG_URL: `postgres://user:${pw}@db.example:5432/app` });
      expect(c.password).toBe(pw);
      expect(c.host).toBe('db.example');
    });

    it('an encoded password and an invalid port get no hint', () => {
      expect(readPostgresConfig({ PG_URL: 'postgres://user:a%40b%3Ac%2Fd%23f@h/app' }).password).toBe('a@b:c/d#f');
      expect(configErrorOf(() => readPostgresConfig({ PG_URL: 'postgres://u:pw@h:99999/db' })).message).toBe(`PG_URL is not a valid URL: ${PG_EXPECTED}`);
    });
  });

  it('rejects a URL without a host', () => {
    expect(configErrorOf(() => readPostgresConfig({ PG_URL: 'postgres:///db' })).message).toBe(
      `PG_URL has no host: ${PG_EXPECTED}`,
    );
  });

  it.each(['postgres://u:pw@h', 'postgres://u:pw@h/', 'postgres://u:pw@h:5432'])('rejects %s with no database', (url) => {
    expect(configErrorOf(() => readPostgresConfig({ PG_URL: url })).message).toBe(
      `PG_URL names no database: ${PG_EXPECTED}`,
    );
  });

  it('rejects a URL without a user', () => {
    expect(configErrorOf(() => readPostgresConfig({ PG_URL: 'postgres://h/db' })).message).toBe(
      `PG_URL names no user: ${PG_EXPECTED}`,
    );
  });

  describe('never echoes the password', () => {
    const PW = 'Sup3r-S3cret_pw';
    const cases: Array<[string, string]> = [
      ['bad scheme', `mysql://admin:${PW}@db.example/app`],
      ['invalid port', `postgres://admin:${PW}@db.example:99999/app`],
      ['no database', `postgres://admin:${PW}@db.example`],
      ['no database, trailing slash', `postgres://admin:${PW}@db.example:5432/`],
      ['no user', `postgres://:${PW}@db.example/app`],
      ['space in host', `postgres://admin:${PW}@db example/app`],
      ['missing scheme', `admin:${PW}@db.example/app`],
    ];
    it.each(cases)('%s', (_what, url) => {
      const e = configErrorOf(() => readPostgresConfig({ PG_URL: url }));
      expect(e.message).toMatch(/^PG_URL /);
      expect(e.message).not.toContain(PW);
      expect(e.message).not.toContain(url);
      expect(String(e)).not.toContain(PW);
      expect(e.stack ?? '').not.toContain(PW);
    });

    it('nor its percent-encoded form', () => {
      const raw = 'p@ss w0rd!';
      const enc = encodeURIComponent(raw);
      const e = configErrorOf(() => readPostgresConfig({ PG_URL: `postgres://u:${enc}@h:5432/` }));
      expect(e.message).toBe(`PG_URL names no database: ${PG_EXPECTED}`);
      expect(e.message).not.toContain(enc);
      expect(e.message).not.toContain(raw);
    });
  });
});

describe('readClickHouseConfig', () => {
  it('defaults to embedded chDB at .pg2ch/clickhouse with database analytics', () => {
    expect(readClickHouseConfig({})).toStrictEqual({ kind: 'embedded', path: '.pg2ch/clickhouse', database: 'analytics' });
  });

  it('treats an empty CLICKHOUSE_URL as unset', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_URL: '' })).toStrictEqual({
      kind: 'embedded',
      path: '.pg2ch/clickhouse',
      database: 'analytics',
    });
  });

  it('takes the embedded path from PG2CH_CHDB_PATH', () => {
    expect(readClickHouseConfig({ PG2CH_CHDB_PATH: '/var/lib/pg2ch/ch' })).toStrictEqual({
      kind: 'embedded',
      path: '/var/lib/pg2ch/ch',
      database: 'analytics',
    });
  });

  it('treats an empty PG2CH_CHDB_PATH as unset', () => {
    const c = readClickHouseConfig({ PG2CH_CHDB_PATH: '' });
    expect(c).toStrictEqual({ kind: 'embedded', path: '.pg2ch/clickhouse', database: 'analytics' });
  });

  it('takes CLICKHOUSE_DATABASE', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_DATABASE: 'Warehouse_2' }).database).toBe('Warehouse_2');
  });

  it('falls back to analytics when CLICKHOUSE_DATABASE is empty', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_DATABASE: '' }).database).toBe('analytics');
  });

  it.each(['my-db', '1abc', 'a b', 'x;DROP', 'db.name', 'données', '`x`'])('rejects CLICKHOUSE_DATABASE=%j', (db) => {
    expect(configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_DATABASE: db })).message).toBe(
      `CLICKHOUSE_DATABASE is invalid: expected a ClickHouse database name such as analytics, got ${JSON.stringify(db)}`,
    );
  });

  it('checks CLICKHOUSE_DATABASE for a server too', () => {
    expect(() =>
      readClickHouseConfig({ CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_DATABASE: 'bad-name' }),
    ).toThrowError(/^CLICKHOUSE_DATABASE is invalid: .*got "bad-name"$/);
  });

  it('takes CLICKHOUSE_CLUSTER', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_CLUSTER: 'main_cluster' })).toStrictEqual({
      kind: 'embedded',
      path: '.pg2ch/clickhouse',
      database: 'analytics',
      cluster: 'main_cluster',
    });
  });

  it('has no cluster when CLICKHOUSE_CLUSTER is empty', () => {
    const c = readClickHouseConfig({ CLICKHOUSE_CLUSTER: '' });
    expect('cluster' in c).toBe(false);
  });

  it('rejects a bad CLICKHOUSE_CLUSTER', () => {
    expect(configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_CLUSTER: 'my cluster' })).message).toBe(
      'CLICKHOUSE_CLUSTER is invalid: expected a cluster name from the server config, such as default, got "my cluster"',
    );
  });

  it('parses user and password out of CLICKHOUSE_URL and removes them from url', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_URL: 'http://pg2ch:s3cret@ch.example:8123' })).toStrictEqual({
      kind: 'server',
      url: 'http://ch.example:8123',
      username: 'pg2ch',
      password: 's3cret',
      database: 'analytics',
    });
  });

  it('accepts a trailing slash and drops it', () => {
    const c = readClickHouseConfig({ CLICKHOUSE_URL: 'https://pg2ch:s3cret@ch.example:8443/' });
    expect(c).toStrictEqual({
      kind: 'server',
      url: 'https://ch.example:8443',
      username: 'pg2ch',
      password: 's3cret',
      database: 'analytics',
    });
  });

  it('decodes a percent-encoded password and never keeps it in url', () => {
    const c = readClickHouseConfig({ CLICKHOUSE_URL: 'http://bob:p%40ss%3Aword@ch.example:8123' });
    expect(c.kind).toBe('server');
    if (c.kind !== 'server') throw new Error('unreachable');
    expect(c.password).toBe('p@ss:word');
    expect(c.username).toBe('bob');
    expect(c.url).toBe('http://ch.example:8123');
    expect(c.url).not.toContain('p%40ss');
    expect(c.url).not.toContain('bob');
  });

  it('defaults the user to default with an empty password', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_URL: 'https://ch.example' })).toStrictEqual({
      kind: 'server',
      url: 'https://ch.example',
      username: 'default',
      password: '',
      database: 'analytics',
    });
  });

  it('defaults the user to default when only a password is given', () => {
    const c = readClickHouseConfig({ CLICKHOUSE_URL: 'http://:onlypw@ch:8123' });
    expect(c).toMatchObject({ kind: 'server', url: 'http://ch:8123', username: 'default', password: 'onlypw' });
  });

  it('carries database and cluster for a server', () => {
    expect(
      readClickHouseConfig({
        CLICKHOUSE_URL: 'http://u:pw@ch:8123',
        CLICKHOUSE_DATABASE: 'dw',
        CLICKHOUSE_CLUSTER: 'c1',
      }),
    ).toStrictEqual({ kind: 'server', url: 'http://ch:8123', username: 'u', password: 'pw', database: 'dw', cluster: 'c1' });
  });

  it('ignores PG2CH_CHDB_PATH when CLICKHOUSE_URL is set', () => {
    const c = readClickHouseConfig({ CLICKHOUSE_URL: 'http://ch:8123', PG2CH_CHDB_PATH: '/x' });
    expect(c.kind).toBe('server');
    expect('path' in c).toBe(false);
  });

  it('rejects a path in CLICKHOUSE_URL', () => {
    expect(configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: 'http://u:pw@ch:8123/analytics' })).message).toBe(
      'CLICKHOUSE_URL must not have a path; set the database with CLICKHOUSE_DATABASE',
    );
  });

  it.each([
    ['ftp://u:pw@ch.example', 'ftp'],
    ['postgres://u:pw@ch.example/db', 'postgres'],
    ['localhost:8123', 'localhost'],
  ])('rejects the scheme of %s', (url, scheme) => {
    expect(configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: url })).message).toBe(
      `CLICKHOUSE_URL has scheme "${scheme}": ${CH_EXPECTED}`,
    );
  });

  it.each(['not a url', 'http://u:pw@ch:999999', 'http://'])('rejects %j as not a URL', (url) => {
    expect(configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: url })).message).toBe(
      `CLICKHOUSE_URL is not a valid URL: ${CH_EXPECTED}`,
    );
  });

  describe('never echoes the password', () => {
    const PW = 'Ch-Pa55word_xyz';
    const cases: Array<[string, string]> = [
      ['bad scheme', `ftp://admin:${PW}@ch.example:8123`],
      ['path', `http://admin:${PW}@ch.example:8123/analytics`],
      ['invalid port', `http://admin:${PW}@ch.example:9999999`],
      ['space in host', `http://admin:${PW}@ch example:8123`],
      ['missing scheme', `admin:${PW}@ch.example:8123`],
    ];
    it.each(cases)('%s', (_what, url) => {
      const e = configErrorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: url }));
      expect(e.message).toMatch(/^CLICKHOUSE_URL /);
      expect(e.message).not.toContain(PW);
      expect(String(e)).not.toContain(PW);
      expect(e.stack ?? '').not.toContain(PW);
    });

    it('does not leave the password in the parsed url', () => {
      const c = readClickHouseConfig({ CLICKHOUSE_URL: `https://admin:${PW}@ch.example:8443` });
      if (c.kind !== 'server') throw new Error('expected a server config');
      expect(c.url).toBe('https://ch.example:8443');
      expect(JSON.stringify({ ...c, password: undefined })).not.toContain(PW);
    });
  });
});

describe('readTemporalConfig', () => {
  it('has defaults for everything', () => {
    expect(readTemporalConfig({})).toStrictEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'pg2ch' });
  });

  it('treats empty values as unset', () => {
    expect(readTemporalConfig({ TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: '', PG2CH_TASK_QUEUE: '' })).toStrictEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'pg2ch',
    });
  });

  it('takes every variable', () => {
    expect(
      readTemporalConfig({ TEMPORAL_ADDRESS: 'temporal.internal:443', TEMPORAL_NAMESPACE: 'prod.abc12', PG2CH_TASK_QUEUE: 'pg2ch-eu' }),
    ).toStrictEqual({ address: 'temporal.internal:443', namespace: 'prod.abc12', taskQueue: 'pg2ch-eu' });
  });

  it('accepts a bracketed IPv6 address', () => {
    expect(readTemporalConfig({ TEMPORAL_ADDRESS: '[::1]:7233' }).address).toBe('[::1]:7233');
  });

  it.each(['127.0.0.1', 'localhost:', 'http://localhost:7233', 'host:123456', 'a b:7233', '::1:7233'])(
    'rejects TEMPORAL_ADDRESS=%j',
    (address) => {
      expect(configErrorOf(() => readTemporalConfig({ TEMPORAL_ADDRESS: address })).message).toBe(
        `TEMPORAL_ADDRESS is invalid: expected host:port such as 127.0.0.1:7233, got ${JSON.stringify(address)}`,
      );
    },
  );

  it('rejects a namespace with whitespace', () => {
    expect(configErrorOf(() => readTemporalConfig({ TEMPORAL_NAMESPACE: 'my ns' })).message).toBe(
      'TEMPORAL_NAMESPACE is invalid: expected a namespace name such as default, got "my ns"',
    );
  });

  it('rejects a task queue with whitespace', () => {
    expect(configErrorOf(() => readTemporalConfig({ PG2CH_TASK_QUEUE: 'pg2ch queue' })).message).toBe(
      'PG2CH_TASK_QUEUE is invalid: expected a task queue name without spaces, such as pg2ch, got "pg2ch queue"',
    );
  });

  it('accepts a 200-character task queue and rejects 201', () => {
    expect(readTemporalConfig({ PG2CH_TASK_QUEUE: 'q'.repeat(200) }).taskQueue).toBe('q'.repeat(200));
    expect(() => readTemporalConfig({ PG2CH_TASK_QUEUE: 'q'.repeat(201) })).toThrow(/^PG2CH_TASK_QUEUE is invalid: /);
  });
});

describe('readWorkerConfig', () => {
  it('combines all three sections with defaults', () => {
    expect(readWorkerConfig({ PG_URL: 'postgres://u:hunter2@h/db' })).toStrictEqual({
      temporal: { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'pg2ch' },
      postgres: { url: 'postgres://u:hunter2@h/db', host: 'h', port: 5432, database: 'db', user: 'u', password: 'hunter2' },
      clickhouse: { kind: 'embedded', path: '.pg2ch/clickhouse', database: 'analytics' },
      copyStrategy: 'auto',
    });
  });

  it('PG2CH_COPY_STRATEGY takes auto, push or pull only', () => {
    expect(readWorkerConfig({ PG_URL: 'postgres://u:pw@h/db', PG2CH_COPY_STRATEGY: 'push' }).copyStrategy).toBe('push');
    expect(() => readWorkerConfig({ PG_URL: 'postgres://u:pw@h/db', PG2CH_COPY_STRATEGY: 'fast' })).toThrow(
      'PG2CH_COPY_STRATEGY is invalid: expected auto, push or pull, got "fast"',
    );
  });

  it('fails when PG_URL is missing', () => {
    expect(() => readWorkerConfig({ CLICKHOUSE_URL: 'http://ch:8123' })).toThrowError(
      new ConfigError(`PG_URL is not set: ${PG_EXPECTED}`),
    );
  });

  it('fails on a bad ClickHouse setting even when PostgreSQL is fine', () => {
    expect(() => readWorkerConfig({ PG_URL: 'postgres://u:pw@h/db', CLICKHOUSE_DATABASE: 'no-dashes' })).toThrow(
      'CLICKHOUSE_DATABASE is invalid: expected a ClickHouse database name such as analytics, got "no-dashes"',
    );
  });
});

describe('secretsOf', () => {
  it('returns the PostgreSQL password and URL and the ClickHouse password', () => {
    const cfg = readWorkerConfig({
      PG_URL: 'postgres://u:pgSecret1@h/db',
      CLICKHOUSE_URL: 'http://u:chSecret2@ch:8123',
    });
    expect(secretsOf(cfg)).toEqual(['pgSecret1', 'chSecret2', 'postgres://u:pgSecret1@h/db']);
  });

  it('returns the decoded passwords', () => {
    const cfg = readWorkerConfig({
      PG_URL: 'postgres://u:p%40ssword@h/db',
      CLICKHOUSE_URL: 'http://u:c%2Fh%3Apw@ch:8123',
    });
    expect(secretsOf(cfg)).toEqual(['p@ssword', 'c/h:pw', 'postgres://u:p%40ssword@h/db']);
  });

  it('has no ClickHouse password for embedded chDB', () => {
    const cfg = readWorkerConfig({ PG_URL: 'postgres://u:pgSecret1@h/db' });
    expect(secretsOf(cfg)).toEqual(['pgSecret1', 'postgres://u:pgSecret1@h/db']);
  });

  it('leaves out empty passwords', () => {
    const cfg = readWorkerConfig({ PG_URL: 'postgres://u@h/db', CLICKHOUSE_URL: 'http://ch:8123' });
    expect(secretsOf(cfg)).toEqual(['postgres://u@h/db']);
  });

  it('leaves out values shorter than three characters', () => {
    const cfg = readWorkerConfig({ PG_URL: 'postgres://u:ab@h/db', CLICKHOUSE_URL: 'http://u:xy@ch:8123' });
    expect(secretsOf(cfg)).toEqual(['postgres://u:ab@h/db']);
  });

  it('includes the SQL-escaped forms of a password with quotes or backslashes', () => {
    const cfg = readWorkerConfig({ PG_URL: `postgres://u:${encodeURIComponent("it's\\x")}@h/db` });
    expect(secretsOf(cfg)).toEqual(expect.arrayContaining(["it's\\x", "it\\'s\\\\x", "it''s\\x"]));
  });

  it('lets redact scrub both passwords from a message', () => {
    const cfg = readWorkerConfig({
      PG_URL: 'postgres://u:pgSecret1@h/db',
      CLICKHOUSE_URL: 'http://u:chSecret2@ch:8123',
    });
    const out = redact('pg pgSecret1, ch chSecret2, url postgres://u:pgSecret1@h/db', secretsOf(cfg));
    // The password goes first, so the URL is left with *** in its place.
    expect(out).toBe('pg ***, ch ***, url postgres://u:***@h/db');
    expect(out).not.toContain('pgSecret1');
    expect(out).not.toContain('chSecret2');
  });
});

describe('parsePositiveInt', () => {
  it.each([
    ['1', 1],
    ['42', 42],
    ['007', 7],
    ['1000000', 1_000_000],
  ])('parses %j as %d', (raw, n) => {
    expect(parsePositiveInt('--chunk-rows', raw)).toBe(n);
  });

  it('tolerates surrounding whitespace', () => {
    expect(parsePositiveInt('--chunk-rows', ' 5 ')).toBe(5);
  });

  it.each(['0', '-1', '1.5', 'abc', '', ' ', '1e3', '0x10', '+5', '1000001', '10000000', '5abc', '١'])('rejects %j', (raw) => {
    expect(() => parsePositiveInt('--chunk-rows', raw)).toThrowError(
      new ConfigError(`--chunk-rows must be a whole number from 1 to 1000000, got ${JSON.stringify(raw)}`),
    );
  });

  it('throws a ConfigError naming the option', () => {
    const e = configErrorOf(() => parsePositiveInt('--parallelism', '0'));
    expect(e.message).toBe('--parallelism must be a whole number from 1 to 1000000, got "0"');
  });

  it('honours a custom max', () => {
    expect(parsePositiveInt('--parallelism', '64', 64)).toBe(64);
    expect(() => parsePositiveInt('--parallelism', '65', 64)).toThrowError(
      new ConfigError('--parallelism must be a whole number from 1 to 64, got "65"'),
    );
  });
});

describe('CLICKHOUSE_URL with several replicas', () => {
  it('one URL keeps the single-URL form', () => {
    expect(readClickHouseConfig({ CLICKHOUSE_URL: 'http://u:p,w@a:8123' })).toStrictEqual({ kind: 'server', url: 'http://a:8123', username: 'u', password: 'p,w', database: 'analytics' });
  });

  it('full URLs and bare host:port, credentials from the first', () => {
    const cfg = readClickHouseConfig({ CLICKHOUSE_URL: 'https://u:p%2Cw@a:8443, b:8443,https://c:9443/' });
    expect(cfg).toMatchObject({ url: 'https://a:8443', username: 'u', password: 'p,w', replicas: ['https://a:8443', 'https://b:8443', 'https://c:9443'] });
  });

  it('a comma inside a raw password is not a separator', () => {
    expect(splitClickHouseUrls('http://u:a,b@h:8123,h2:8123')).toEqual(['http://u:a,b@h:8123', 'h2:8123']);
  });

  it('other credentials on a later URL are an error', () => {
    expect(() => readClickHouseConfig({ CLICKHOUSE_URL: 'http://u:p@a:8123,http://v:q@b:8123' })).toThrow('CLICKHOUSE_URL lists replicas with different credentials');
  });
});

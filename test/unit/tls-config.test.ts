import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, readClickHouseConfig, readPostgresConfig, readTemporalConfig, readWorkerConfig, secretsOf } from '../../core/config';
import { redact } from '../../core/errors';
import { clickHouseTlsOptions, nodeIo, pgTlsOptions, temporalConnectionOptions, type FileIo } from '../../core/tls';
import { makeTestCerts, type TestCerts } from '../support/certs';

let certs: TestCerts;
let dir: string;
/** A home without ~/.postgresql, so libpq's default root certificate is absent unless a test makes it. */
let io: FileIo;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg2ch-tls-unit-'));
  certs = makeTestCerts(join(dir, 'certs'));
  mkdirSync(join(dir, 'home'));
  io = { ...nodeIo, home: () => join(dir, 'home') };
  writeFileSync(join(dir, 'not-pem.txt'), 'hello\n');
});

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const pgUrl = (query: string) => `postgres://u:pgSecret1@db.example/app?${query}`;
const pgTls = (query: string, env: Record<string, string> = {}) => readPostgresConfig({ PG_URL: pgUrl(query), ...env }, io).tls;

describe('PostgreSQL sslmode, with libpq meaning', () => {
  it('no sslmode and sslmode=disable: no TLS', () => {
    expect(readPostgresConfig({ PG_URL: 'postgres://u:pw@h/db' }, io).tls).toBeUndefined();
    expect(pgTls('sslmode=disable')).toBeUndefined();
    expect(pgTlsOptions(undefined)).toBe(false);
  });

  it('require without a root certificate: encrypted, any certificate accepted (not verify-full as node-postgres reads it)', () => {
    const tls = pgTls('sslmode=require');
    expect(tls).toEqual({ mode: 'require' });
    expect(pgTlsOptions(tls)).toEqual({ rejectUnauthorized: false });
  });

  it('require with sslrootcert checks the chain as verify-ca, not the host name', () => {
    const opts = pgTlsOptions(pgTls(`sslmode=require&sslrootcert=${certs.ca}`)) as Record<string, unknown>;
    expect(opts.ca).toBe(certs.pem(certs.ca));
    expect(opts.rejectUnauthorized).toBeUndefined();
    expect((opts.checkServerIdentity as () => unknown)()).toBeUndefined();
  });

  it('require with libpq default ~/.postgresql/root.crt behaves as verify-ca too', () => {
    const home = join(dir, 'home-with-root');
    mkdirSync(join(home, '.postgresql'), { recursive: true });
    writeFileSync(join(home, '.postgresql', 'root.crt'), certs.pem(certs.ca));
    const tls = readPostgresConfig({ PG_URL: pgUrl('sslmode=require') }, { ...nodeIo, home: () => home }).tls;
    expect(tls?.ca).toBe(certs.pem(certs.ca));
    const full = readPostgresConfig({ PG_URL: pgUrl('sslmode=verify-full') }, { ...nodeIo, home: () => home }).tls;
    expect(full).toEqual({ mode: 'verify-full', ca: certs.pem(certs.ca) });
  });

  it('verify-ca checks the chain only; verify-full the chain and the host name (node default check)', () => {
    const ca = pgTlsOptions(pgTls(`sslmode=verify-ca&sslrootcert=${certs.ca}`)) as Record<string, unknown>;
    expect(ca.ca).toBe(certs.pem(certs.ca));
    expect(typeof ca.checkServerIdentity).toBe('function');
    const full = pgTlsOptions(pgTls(`sslmode=verify-full&sslrootcert=${certs.ca}`)) as Record<string, unknown>;
    expect(full).toEqual({ ca: certs.pem(certs.ca) });
  });

  it('sslrootcert=system: the system roots, verify-full by default, and refused with a weaker sslmode', () => {
    expect(pgTls('sslrootcert=system')).toEqual({ mode: 'verify-full' });
    expect(pgTls('sslmode=verify-full&sslrootcert=system')).toEqual({ mode: 'verify-full' });
    expect(pgTlsOptions({ mode: 'verify-full' })).toEqual({});
    expect(errorOf(() => pgTls('sslmode=require&sslrootcert=system'))).toBe('PG_URL: sslrootcert=system needs sslmode=verify-full, not require (as in libpq)');
  });

  it('verify-ca and verify-full without any root certificate: one line saying where to put one', () => {
    for (const mode of ['verify-ca', 'verify-full']) {
      expect(errorOf(() => pgTls(`sslmode=${mode}`))).toBe(
        `PG_URL has sslmode=${mode} but no root certificate: add sslrootcert=/path/to/ca.crt (or sslrootcert=system for the system's trusted roots) to PG_URL, or put it in ~/.postgresql/root.crt`,
      );
    }
  });

  it('node-postgres spellings keep their meaning: no-verify, ssl=true (verify-full, system roots), ssl=false', () => {
    expect(pgTlsOptions(pgTls('sslmode=no-verify'))).toEqual({ rejectUnauthorized: false });
    expect(pgTls('ssl=true')).toEqual({ mode: 'verify-full' });
    expect(pgTls('ssl=false')).toBeUndefined();
  });

  it('allow and prefer are kept for the worker to decide at start (worker/connections resolvePgTls)', () => {
    expect(pgTls('sslmode=prefer')).toEqual({ mode: 'prefer' });
    expect(pgTls('sslmode=allow')).toEqual({ mode: 'allow' });
  });

  it('an unknown sslmode, and sslnegotiation=direct, are one line', () => {
    expect(errorOf(() => pgTls('sslmode=verify_full'))).toBe('PG_URL has sslmode "verify_full": expected disable, allow, prefer, require, verify-ca or verify-full');
    expect(errorOf(() => pgTls('sslmode=require&sslnegotiation=direct'))).toMatch(/^PG_URL has sslnegotiation=direct, which pg2ch does not support/);
  });

  it('PGSSLMODE, PGSSLROOTCERT, PGSSLCERT and PGSSLKEY apply when the URL does not say, as in libpq', () => {
    expect(pgTls('', { PGSSLMODE: 'require' })).toEqual({ mode: 'require' });
    expect(pgTls('sslmode=disable', { PGSSLMODE: 'require' })).toBeUndefined();
    expect(pgTls('', { PGSSLMODE: 'verify-full', PGSSLROOTCERT: certs.ca })).toEqual({ mode: 'verify-full', ca: certs.pem(certs.ca) });
    expect(errorOf(() => pgTls('', { PGSSLMODE: 'strict' }))).toBe('PGSSLMODE is "strict": expected disable, allow, prefer, require, verify-ca or verify-full');
    const tls = pgTls('sslmode=require', { PGSSLCERT: certs.clientCert, PGSSLKEY: certs.clientKey });
    expect(tls?.clientCert).toEqual({ cert: certs.pem(certs.clientCert), key: certs.pem(certs.clientKey) });
  });

  it('a root certificate that is missing, not PEM, or a key: one line naming the file', () => {
    expect(errorOf(() => pgTls('sslmode=verify-full&sslrootcert=/nonexistent/ca.crt'))).toBe('PG_URL sslrootcert "/nonexistent/ca.crt" does not exist');
    expect(errorOf(() => pgTls(`sslmode=verify-full&sslrootcert=${dir}`))).toBe(`PG_URL sslrootcert ${JSON.stringify(dir)} is a directory`);
    expect(errorOf(() => pgTls(`sslmode=verify-full&sslrootcert=${join(dir, 'not-pem.txt')}`))).toMatch(/^PG_URL sslrootcert ".*not-pem.txt" is not PEM: expected PEM certificates/);
    expect(errorOf(() => pgTls(`sslmode=verify-full&sslrootcert=${certs.serverKey}`))).toMatch(/^PG_URL sslrootcert ".*server.key" holds a PRIVATE KEY block: expected PEM certificates/);
  });

  it('a client certificate needs its key and the key its certificate, and they must match', () => {
    expect(errorOf(() => pgTls(`sslmode=require&sslcert=${certs.clientCert}`))).toBe('PG_URL sslcert is set without PG_URL sslkey: a client certificate needs its key');
    expect(errorOf(() => pgTls(`sslmode=require&sslkey=${certs.clientKey}`))).toBe('PG_URL sslkey is set without PG_URL sslcert: a client key needs its certificate');
    expect(errorOf(() => pgTls(`sslmode=require&sslcert=${certs.clientCert}&sslkey=${certs.serverKey}`))).toBe('PG_URL sslkey is not the key of the certificate in PG_URL sslcert');
    const opts = pgTlsOptions(pgTls(`sslmode=verify-full&sslrootcert=${certs.ca}&sslcert=${certs.clientCert}&sslkey=${certs.clientKey}`));
    expect(opts).toEqual({ ca: certs.pem(certs.ca), cert: certs.pem(certs.clientCert), key: certs.pem(certs.clientKey) });
  });

  it('the key is never echoed, even when it is the wrong kind of file', () => {
    const message = errorOf(() => pgTls(`sslmode=require&sslcert=${certs.clientKey}&sslkey=${certs.clientKey}`));
    expect(message).not.toContain(certs.pem(certs.clientKey).split('\n')[1]);
  });
});

describe('Temporal TLS, mTLS and API key (the Temporal CLI variable names)', () => {
  it('off by default: the options say tls false', () => {
    const cfg = readTemporalConfig({}, io);
    expect(cfg.tls).toBeUndefined();
    expect(temporalConnectionOptions(cfg)).toEqual({ address: '127.0.0.1:7233', tls: false });
  });

  it('TEMPORAL_TLS=true: TLS with the system roots', () => {
    expect(readTemporalConfig({ TEMPORAL_TLS: 'true' }, io).tls).toEqual({});
    expect(temporalConnectionOptions(readTemporalConfig({ TEMPORAL_TLS: 'true' }, io)).tls).toEqual({});
    expect(errorOf(() => readTemporalConfig({ TEMPORAL_TLS: 'yes' }, io))).toBe('TEMPORAL_TLS is invalid: expected true or false, got "yes"');
  });

  it('an API key turns TLS on (Temporal Cloud), unless TEMPORAL_TLS=false', () => {
    const cloud = readTemporalConfig({ TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'prod.a1b2c', TEMPORAL_API_KEY: 'key-Secret-42' }, io);
    expect(temporalConnectionOptions(cloud)).toEqual({ address: 'eu-west-1.aws.api.temporal.io:7233', tls: {}, apiKey: 'key-Secret-42' });
    const plain = readTemporalConfig({ TEMPORAL_API_KEY: 'key-Secret-42', TEMPORAL_TLS: 'false' }, io);
    expect(temporalConnectionOptions(plain)).toEqual({ address: '127.0.0.1:7233', tls: false, apiKey: 'key-Secret-42' });
    expect(errorOf(() => readTemporalConfig({ TEMPORAL_API_KEY: 'key-Secret-42\n' }, io))).toBe('TEMPORAL_API_KEY holds whitespace or a line break: set it to the key alone');
  });

  it('CA, client certificate and key as files, server name override', () => {
    const cfg = readTemporalConfig(
      { TEMPORAL_TLS_CA_PATH: certs.ca, TEMPORAL_TLS_CERT_PATH: certs.clientCert, TEMPORAL_TLS_KEY_PATH: certs.clientKey, TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' },
      io,
    );
    const opts = temporalConnectionOptions(cfg);
    expect(opts.tls && opts.tls.serverRootCACertificate?.toString()).toBe(certs.pem(certs.ca));
    expect(opts.tls && opts.tls.clientCertPair?.crt.toString()).toBe(certs.pem(certs.clientCert));
    expect(opts.tls && opts.tls.clientCertPair?.key.toString()).toBe(certs.pem(certs.clientKey));
    expect(opts.tls && opts.tls.serverNameOverride).toBe('temporal.internal');
  });

  it('PEM in _DATA variables, newlines written as \\n accepted', () => {
    const cfg = readTemporalConfig(
      { TEMPORAL_TLS_CA_DATA: certs.pem(certs.ca).replace(/\n/g, '\\n'), TEMPORAL_TLS_CERT_DATA: certs.pem(certs.clientCert), TEMPORAL_TLS_KEY_DATA: certs.pem(certs.clientKey) },
      io,
    );
    expect(cfg.tls?.ca).toBe(certs.pem(certs.ca));
    expect(cfg.tls?.clientCert?.key).toBe(certs.pem(certs.clientKey));
  });

  it('bad settings are one line that never holds the key', () => {
    const key = certs.pem(certs.clientKey);
    const cases: Array<[Record<string, string>, string | RegExp]> = [
      [{ TEMPORAL_TLS_CA_PATH: certs.ca, TEMPORAL_TLS_CA_DATA: certs.pem(certs.ca) }, 'TEMPORAL_TLS_CA_PATH and TEMPORAL_TLS_CA_DATA are both set: set one of them'],
      [{ TEMPORAL_TLS_CA_PATH: '/nonexistent/ca.pem' }, 'TEMPORAL_TLS_CA_PATH "/nonexistent/ca.pem" does not exist'],
      [{ TEMPORAL_TLS_CA_DATA: 'not a certificate' }, /^TEMPORAL_TLS_CA_DATA is not PEM: expected PEM certificates/],
      [{ TEMPORAL_TLS_KEY_DATA: key }, 'TEMPORAL_TLS_KEY_DATA is set without TEMPORAL_TLS_CERT_PATH: a client key needs its certificate'],
      [{ TEMPORAL_TLS_CERT_DATA: certs.pem(certs.clientCert), TEMPORAL_TLS_KEY_DATA: certs.pem(certs.serverKey) }, 'TEMPORAL_TLS_KEY_DATA is not the key of the certificate in TEMPORAL_TLS_CERT_DATA'],
      [{ TEMPORAL_TLS_CERT_PATH: certs.clientCert }, 'TEMPORAL_TLS_CERT_PATH is set without TEMPORAL_TLS_KEY_PATH: a client certificate needs its key'],
      [{ TEMPORAL_TLS_CERT_PATH: certs.clientCert, TEMPORAL_TLS_KEY_PATH: certs.serverKey }, 'TEMPORAL_TLS_KEY_PATH is not the key of the certificate in TEMPORAL_TLS_CERT_PATH'],
      [{ TEMPORAL_TLS_CERT_PATH: certs.clientKey, TEMPORAL_TLS_KEY_DATA: key }, /^TEMPORAL_TLS_CERT_PATH ".*client.key" holds a PRIVATE KEY block/],
      [{ TEMPORAL_TLS_CERT_PATH: certs.clientCert, TEMPORAL_TLS_KEY_DATA: key.replace(/\n[^-][^\n]*\n/, '\nAAAA\n') }, /^TEMPORAL_TLS_KEY_DATA is not a private key that parses/],
      [{ TEMPORAL_TLS: 'false', TEMPORAL_TLS_CA_PATH: certs.ca }, 'TEMPORAL_TLS is false but TEMPORAL_TLS_CA_PATH is set: unset one of them'],
      [{ TEMPORAL_TLS_SERVER_NAME: 'not a name' }, 'TEMPORAL_TLS_SERVER_NAME is invalid: expected a host name such as temporal.internal, got "not a name"'],
    ];
    for (const [env, expected] of cases) {
      const message = errorOf(() => readTemporalConfig(env, io));
      expect(message).toMatch(typeof expected === 'string' ? new RegExp(`^${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : expected);
      expect(message).not.toContain(key.split('\n')[1]);
    }
  });
});

describe('ClickHouse https with a private CA', () => {
  it('CA and client certificate for an https URL', () => {
    const cfg = readClickHouseConfig(
      { CLICKHOUSE_URL: 'https://u:chSecret2@ch.example:8443', CLICKHOUSE_TLS_CA_PATH: certs.ca, CLICKHOUSE_TLS_CERT_PATH: certs.clientCert, CLICKHOUSE_TLS_KEY_PATH: certs.clientKey },
      io,
    );
    expect(cfg.kind === 'server' && clickHouseTlsOptions(cfg.tls)).toEqual({
      ca_cert: Buffer.from(certs.pem(certs.ca)),
      cert: Buffer.from(certs.pem(certs.clientCert)),
      key: Buffer.from(certs.pem(certs.clientKey)),
    });
  });

  it('an https URL alone: the system roots, no tls option', () => {
    const cfg = readClickHouseConfig({ CLICKHOUSE_URL: 'https://ch.example:8443' }, io);
    expect(cfg.kind === 'server' && cfg.tls).toBeUndefined();
  });

  it('TLS settings with an http URL or the embedded engine, or a client certificate without a CA: one line', () => {
    expect(errorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_TLS_CA_PATH: certs.ca }, io))).toBe(
      "CLICKHOUSE_TLS_CA_PATH is set but CLICKHOUSE_URL is not https://: use https:// (ClickHouse's https port, 8443 by default) or unset it",
    );
    expect(errorOf(() => readClickHouseConfig({ CLICKHOUSE_TLS_CA_DATA: certs.pem(certs.ca) }, io))).toBe(
      'CLICKHOUSE_TLS_CA_DATA is set but CLICKHOUSE_URL is not: the embedded engine takes no TLS; set CLICKHOUSE_URL=https://... or unset CLICKHOUSE_TLS_CA_DATA',
    );
    expect(errorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: 'https://ch:8443', CLICKHOUSE_TLS_CERT_PATH: certs.clientCert, CLICKHOUSE_TLS_KEY_PATH: certs.clientKey }, io))).toBe(
      'CLICKHOUSE_TLS_CERT_PATH is set without CLICKHOUSE_TLS_CA_PATH: a client certificate needs the CA that signed the server certificate',
    );
    expect(errorOf(() => readClickHouseConfig({ CLICKHOUSE_URL: 'https://ch:8443', CLICKHOUSE_TLS_CA_PATH: join(dir, 'not-pem.txt') }, io))).toMatch(/^CLICKHOUSE_TLS_CA_PATH ".*not-pem.txt" is not PEM/);
  });
});

describe('secretsOf covers the new secrets', () => {
  it('the API key and every client key, whole and as their base64 body, are redacted', () => {
    const cfg = readWorkerConfig(
      {
        PG_URL: `postgres://u:pgSecret1@h/db?sslmode=require&sslcert=${certs.clientCert}&sslkey=${certs.clientKey}`,
        CLICKHOUSE_URL: 'https://u:chSecret2@ch:8443',
        CLICKHOUSE_TLS_CA_PATH: certs.ca,
        CLICKHOUSE_TLS_CERT_PATH: certs.clientCert,
        CLICKHOUSE_TLS_KEY_PATH: certs.clientKey,
        TEMPORAL_API_KEY: 'key-Secret-42',
        TEMPORAL_TLS_CERT_PATH: certs.clientCert,
        TEMPORAL_TLS_KEY_PATH: certs.clientKey,
      },
      io,
    );
    const secrets = secretsOf(cfg);
    const key = certs.pem(certs.clientKey);
    const body = key.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const out = redact(`apikey key-Secret-42 pem ${key} body ${body} pw pgSecret1 chSecret2`, secrets);
    for (const s of ['key-Secret-42', body, 'pgSecret1', 'chSecret2']) expect(out).not.toContain(s);
    expect(out).not.toContain(key.split('\n')[1]);
  });
});

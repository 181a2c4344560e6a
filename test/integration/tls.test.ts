import { chmodSync, chownSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseTarget } from '../../activities';
import { chooseStrategy } from '../../activities/pull';
import { connectTemporal, pollerCount } from '../../client/temporal-client';
import { readClickHouseConfig, readPostgresConfig, readTemporalConfig, type PostgresConfig } from '../../core/config';
import { pemBody, temporalConnectionOptions } from '../../core/tls';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { startEmbeddedPostgres, type LocalPostgres } from '../../devstack/embedded-postgres';
import { connectClickHouse, createPgPool, resolvePgTls } from '../../worker/connections';
import { makeTestCerts, type TestCerts } from '../support/certs';
import { runCli } from '../support/cli';
import { firstValue, serverClickHouse, services, startWorker, type RunningWorker } from '../support/harness';
import { startGrpcTlsProxy, startTlsProxy, type TlsProxy } from '../support/tls-proxy';

/**
 * TLS to each service with certificates made here: a private PostgreSQL with
 * ssl=on (each sslmode as libpq means it), the suite's Temporal dev server and
 * ClickHouse 18.16 server behind TLS-terminating proxies that demand a client
 * certificate, and one sync end to end over all three.
 */
const TLS_PASSWORD = 'tls-Pa55word-k83';
const ROWS = 3000;

let certs: TestCerts;
let pgServer: LocalPostgres;
let admin: pg.Pool;
let dataDir: string;
let temporalProxy: TlsProxy;
let temporalWrongNameProxy: TlsProxy;
let chProxy: TlsProxy;

/** A URL to the private PostgreSQL as role `user`, with these query parameters. */
const pgUrl = (user: string, query: string, host = '127.0.0.1') => `postgres://${user}:${TLS_PASSWORD}@${host}:${pgServer.port}/tls_test${query ? `?${query}` : ''}`;

/** Connects exactly as the worker does (sslmode read, allow/prefer decided, pool) and says whether the session is encrypted. */
async function sessionTls(url: string): Promise<boolean> {
  const cfg: PostgresConfig = await resolvePgTls(readPostgresConfig({ PG_URL: url }));
  const pool = createPgPool(cfg, 1);
  try {
    const r = await pool.query<{ ssl: boolean }>('SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl');
    return r.rows[0]!.ssl;
  } finally {
    await pool.end();
  }
}

async function sessionError(url: string): Promise<string> {
  try {
    await sessionTls(url);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${url} connected`);
}

/** Makes the server present this certificate to new connections. */
async function serverCertificate(name: 'server' | 'wrong-host' | 'self-signed'): Promise<void> {
  const owner = statSync(dataDir).uid;
  for (const ext of ['crt', 'key']) {
    const to = join(dataDir, `tls-${name}.${ext}`);
    copyFileSync(join(certs.dir, `${name}.${ext}`), to);
    chownSync(to, owner, statSync(dataDir).gid);
    chmodSync(to, 0o600);
  }
  await admin.query(`ALTER SYSTEM SET ssl_cert_file = 'tls-${name}.crt'`);
  await admin.query(`ALTER SYSTEM SET ssl_key_file = 'tls-${name}.key'`);
  await admin.query('SELECT pg_reload_conf()');
  // The postmaster reloads on its signal, asynchronously; new connections after that see the new certificate.
  await new Promise((r) => setTimeout(r, 700));
}

let sslIsOn = false;

/** ssl=on with this certificate, the client CA for certificate logins, and roles that may only connect encrypted. */
async function sslOn(cert: Parameters<typeof serverCertificate>[0]): Promise<void> {
  if (!sslIsOn) {
    copyFileSync(certs.ca, join(dataDir, 'tls-ca.crt'));
    chownSync(join(dataDir, 'tls-ca.crt'), statSync(dataDir).uid, statSync(dataDir).gid);
    await admin.query(`ALTER SYSTEM SET ssl_ca_file = 'tls-ca.crt'`);
    await admin.query('ALTER SYSTEM SET ssl = on');
    // tlsonly may only connect encrypted; certuser only with a client certificate.
    const hba = join(dataDir, 'pg_hba.conf');
    writeFileSync(hba, `hostnossl all tlsonly all reject\nhostssl all certuser all cert\nhostnossl all certuser all reject\n${readFileSync(hba, 'utf8')}`);
    sslIsOn = true;
  }
  await serverCertificate(cert);
}

beforeAll(async () => {
  const s = services();
  certs = makeTestCerts(join(s.workDir, 'tls-certs'), 'certuser');
  pgServer = await startEmbeddedPostgres({ dataDir: join(s.workDir, 'tls-pg', 'data'), database: 'tls_test', password: TLS_PASSWORD, persistent: false });
  dataDir = pgServer.dataDir;
  admin = new pg.Pool({ connectionString: pgServer.url, max: 1 });
  // Its idle connection is cut when the server stops at the end: not an error of the test.
  admin.on('error', () => {});
  await admin.query(`CREATE ROLE tlsonly LOGIN PASSWORD '${TLS_PASSWORD}'`);
  await admin.query('CREATE ROLE certuser LOGIN');
  await admin.query('GRANT ALL ON SCHEMA public TO tlsonly');
  const temporal = s.temporalAddress.split(':');
  const target = { host: temporal[0]!, port: Number(temporal[1]) };
  temporalProxy = await startTlsProxy({ target, cert: certs.serverCert, key: certs.serverKey, clientCa: certs.ca, h2: true });
  temporalWrongNameProxy = await startTlsProxy({ target, cert: certs.wrongHostCert, key: certs.wrongHostKey, h2: true });
  const ch = new URL(s.clickhouseUrl);
  chProxy = await startTlsProxy({ target: { host: ch.hostname, port: Number(ch.port) }, cert: certs.serverCert, key: certs.serverKey, clientCa: certs.ca });
}, 120_000);

afterAll(async () => {
  await admin?.end();
  await pgServer?.stop();
  await temporalProxy?.close();
  await temporalWrongNameProxy?.close();
  await chProxy?.close();
});

describe('PostgreSQL sslmode as libpq means it', () => {
  it('with ssl off on the server: prefer falls back to no TLS, require fails', async () => {
    expect(await sessionTls(pgUrl('postgres', 'sslmode=prefer'))).toBe(false);
    expect(await sessionError(pgUrl('postgres', 'sslmode=require'))).toMatch(/does not support SSL/);
  });

  it('ssl on, a self-signed certificate: require accepts it, verify-ca refuses it', async () => {
    await sslOn('self-signed');
    expect(await sessionTls(pgUrl('tlsonly', 'sslmode=require'))).toBe(true);
    expect(await sessionTls(pgUrl('tlsonly', 'sslmode=no-verify'))).toBe(true);
    expect(await sessionError(pgUrl('tlsonly', `sslmode=verify-ca&sslrootcert=${certs.ca}`))).toMatch(/self.signed certificate/);
  });

  it('a certificate for another host name: verify-ca accepts it, verify-full refuses it; require with sslrootcert checks the chain', async () => {
    await sslOn('wrong-host');
    expect(await sessionTls(pgUrl('tlsonly', `sslmode=verify-ca&sslrootcert=${certs.ca}`))).toBe(true);
    expect(await sessionError(pgUrl('tlsonly', `sslmode=verify-full&sslrootcert=${certs.ca}`))).toMatch(/Hostname\/IP does not match certificate's altnames/);
    expect(await sessionTls(pgUrl('tlsonly', `sslmode=require&sslrootcert=${certs.ca}`))).toBe(true);
    expect(await sessionError(pgUrl('tlsonly', `sslmode=require&sslrootcert=${certs.otherCa}`))).toMatch(/unable to verify|self.signed|local issuer/);
  });

  it('the right certificate: verify-full by name and by address; disable refused where TLS is required; allow and prefer choose TLS', async () => {
    await sslOn('server');
    expect(await sessionTls(pgUrl('tlsonly', `sslmode=verify-full&sslrootcert=${certs.ca}`, 'localhost'))).toBe(true);
    expect(await sessionTls(pgUrl('tlsonly', `sslmode=verify-full&sslrootcert=${certs.ca}`))).toBe(true);
    expect(await sessionError(pgUrl('tlsonly', 'sslmode=disable'))).toMatch(/no encryption/);
    expect(await sessionError(pgUrl('tlsonly', ''))).toMatch(/no encryption/);
    expect(await sessionTls(pgUrl('tlsonly', 'sslmode=prefer'))).toBe(true);
    expect(await sessionTls(pgUrl('tlsonly', 'sslmode=allow'))).toBe(true);
    // allow tries without TLS first, and keeps it where the server lets it.
    expect(await sessionTls(pgUrl('postgres', 'sslmode=allow'))).toBe(false);
  });

  it('a client certificate (sslcert, sslkey) logs in a role that needs one; without it the server refuses', async () => {
    await sslOn('server');
    const full = `sslmode=verify-full&sslrootcert=${certs.ca}`;
    expect(await sessionTls(pgUrl('certuser', `${full}&sslcert=${certs.clientCert}&sslkey=${certs.clientKey}`))).toBe(true);
    expect(await sessionError(pgUrl('certuser', full))).toMatch(/certificate/i);
  });

  it('the embedded engine never pulls over TLS: auto pushes, pull is refused with the reason', async () => {
    const tls = readPostgresConfig({ PG_URL: pgUrl('tlsonly', `sslmode=verify-full&sslrootcert=${certs.ca}`) });
    const plan = { key: 'public.t', cursor: 'id', columns: [{ name: 'id', pullSafe: true }], source: { schema: 'public', name: 't' } } as unknown as Parameters<typeof chooseStrategy>[2];
    const embedded = { kind: 'embedded' } as ClickHouseTarget;
    expect(await chooseStrategy('auto', embedded, plan, tls)).toBe('push');
    await expect(chooseStrategy('pull', embedded, plan, tls)).rejects.toThrow(
      'PG2CH_COPY_STRATEGY=pull is not possible for public.t: PG_URL uses TLS (sslmode=verify-full), which the embedded engine\'s postgresql() connection would not keep; use auto or push',
    );
    // Without TLS the same plan may pull: the check above is what stops it.
    expect(await chooseStrategy('auto', embedded, plan, readPostgresConfig({ PG_URL: pgUrl('postgres', '') }))).toBe('pull');
  });
});

describe('Temporal behind TLS', () => {
  const env = () => ({ TEMPORAL_ADDRESS: `localhost:${temporalProxy.port}`, TEMPORAL_TLS_CA_PATH: certs.ca, TEMPORAL_TLS_CERT_PATH: certs.clientCert, TEMPORAL_TLS_KEY_PATH: certs.clientKey });

  it('the CLI client and the worker connection get through with mTLS', async () => {
    const cfg = readTemporalConfig(env());
    const client = await connectTemporal(cfg);
    try {
      expect(await pollerCount(client, cfg)).toBe(0);
    } finally {
      await client.connection.close();
    }
    const native = await NativeConnection.connect(temporalConnectionOptions(cfg));
    await native.close();
  });

  it('a client without a certificate, or trusting another CA, is refused', async () => {
    const noCert = readTemporalConfig({ TEMPORAL_ADDRESS: `localhost:${temporalProxy.port}`, TEMPORAL_TLS_CA_PATH: certs.ca });
    await expect(connectTemporal(noCert)).rejects.toThrow(/^cannot reach Temporal at localhost:\d+: .*; check TEMPORAL_ADDRESS and the TLS settings \(.*TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH where the server asks for a client certificate/);
    await expect(NativeConnection.connect(temporalConnectionOptions(noCert))).rejects.toThrow(/tonic::transport::Error/); // CertificateRequired, or the connection closed by the refusal
    const otherCa = readTemporalConfig({ ...env(), TEMPORAL_TLS_CA_PATH: certs.otherCa });
    await expect(connectTemporal(otherCa)).rejects.toThrow(/^cannot reach Temporal/);
    await expect(NativeConnection.connect(temporalConnectionOptions(otherCa))).rejects.toThrow(/UnknownIssuer/);
  });

  it('TEMPORAL_TLS_SERVER_NAME checks the certificate against that name instead of the address', async () => {
    const base = { TEMPORAL_ADDRESS: `127.0.0.1:${temporalWrongNameProxy.port}`, TEMPORAL_TLS_CA_PATH: certs.ca };
    await expect(connectTemporal(readTemporalConfig(base))).rejects.toThrow(/^cannot reach Temporal/);
    const named = readTemporalConfig({ ...base, TEMPORAL_TLS_SERVER_NAME: 'wrong.invalid' });
    const client = await connectTemporal(named);
    await client.connection.close();
    const native = await NativeConnection.connect(temporalConnectionOptions(named));
    await native.close();
  });

  it('a client without TLS settings at a TLS port is told TEMPORAL_TLS exists', async () => {
    await expect(connectTemporal(readTemporalConfig({ TEMPORAL_ADDRESS: `localhost:${temporalWrongNameProxy.port}` }))).rejects.toThrow(/\(TEMPORAL_TLS=true if it takes TLS\)$/);
  });

  it('the API key reaches the server as a bearer token from the CLI client and the worker connection, over TLS', async () => {
    const temporal = services().temporalAddress.split(':');
    const proxy = await startGrpcTlsProxy({ target: { host: temporal[0]!, port: Number(temporal[1]) }, cert: certs.serverCert, key: certs.serverKey });
    try {
      const cfg = readTemporalConfig({ TEMPORAL_ADDRESS: `localhost:${proxy.port}`, TEMPORAL_API_KEY: 'api-Key-secret-77', TEMPORAL_TLS_CA_PATH: certs.ca });
      const client = await connectTemporal(cfg);
      try {
        expect(await pollerCount(client, cfg)).toBe(0);
      } finally {
        await client.connection.close();
      }
      const fromClient = proxy.authorizations().length;
      expect(fromClient).toBeGreaterThan(0);
      const native = await NativeConnection.connect(temporalConnectionOptions(cfg));
      await native.close();
      expect(proxy.authorizations().length).toBeGreaterThan(fromClient);
      expect(new Set(proxy.authorizations())).toEqual(new Set(['Bearer api-Key-secret-77']));
    } finally {
      await proxy.close();
    }
  });

  it('an API key turns TLS on by itself (Temporal Cloud): a plain dev server is then not reachable, TEMPORAL_TLS=false reaches it', async () => {
    const address = services().temporalAddress;
    await expect(connectTemporal(readTemporalConfig({ TEMPORAL_ADDRESS: address, TEMPORAL_API_KEY: 'api-Key-secret-77' }))).rejects.toThrow(/^cannot reach Temporal/);
    const plain = await connectTemporal(readTemporalConfig({ TEMPORAL_ADDRESS: address, TEMPORAL_API_KEY: 'api-Key-secret-77', TEMPORAL_TLS: 'false' }));
    await plain.connection.close();
  });
});

describe('ClickHouse over https', () => {
  const chUrl = () => {
    const url = new URL(services().clickhouseUrl);
    return `https://${url.username}:${url.password}@localhost:${chProxy.port}`;
  };

  it('without the CA the certificate is refused; without a client certificate the proxy refuses', async () => {
    await expect(connectClickHouse(readClickHouseConfig({ CLICKHOUSE_URL: chUrl() }), 10_000)).rejects.toThrow(/certificate/);
    await expect(connectClickHouse(readClickHouseConfig({ CLICKHOUSE_URL: chUrl(), CLICKHOUSE_TLS_CA_PATH: certs.ca }), 10_000)).rejects.toThrow();
  });
});

describe('one sync over TLS to all three services', () => {
  let worker: RunningWorker | undefined;
  const database = 'it_tls';
  const table = 'activity_logs_tls';
  let env: Record<string, string>;

  beforeAll(async () => {
    const s = services();
    const url = new URL(s.clickhouseUrl);
    env = {
      PG_URL: pgUrl('tlsonly', `sslmode=verify-full&sslrootcert=${certs.ca}`, 'localhost'),
      CLICKHOUSE_URL: `https://${url.username}:${url.password}@localhost:${chProxy.port}`,
      CLICKHOUSE_TLS_CA_PATH: certs.ca,
      CLICKHOUSE_TLS_CERT_PATH: certs.clientCert,
      CLICKHOUSE_TLS_KEY_PATH: certs.clientKey,
      CLICKHOUSE_DATABASE: database,
      TEMPORAL_ADDRESS: `localhost:${temporalProxy.port}`,
      TEMPORAL_TLS_CA_PATH: certs.ca,
      TEMPORAL_TLS_CERT_PATH: certs.clientCert,
      TEMPORAL_TLS_KEY_DATA: readFileSync(certs.clientKey, 'utf8'),
      PG2CH_TASK_QUEUE: 'it-tls',
      PG2CH_WORKFLOW_BUNDLE: s.workflowBundlePath,
    };
    await sslOn('server');
    // The table belongs to tlsonly, which may only connect encrypted (node-postgres's own sslmode=require would check the host name).
    const owner = new pg.Pool({ connectionString: pgUrl('tlsonly', ''), ssl: { rejectUnauthorized: false }, max: 1 });
    try {
      await createActivityLogs(owner, table);
      await seedActivityLogs(owner, { firstId: 1, count: ROWS, table });
    } finally {
      await owner.end();
    }
    worker = await startWorker(env);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
  });

  it('sync --once and status go through the CLI over TLS; the worker copies every row; no secret in any history', async () => {
    const sync = runCli(['sync', table, '--once'], env);
    const { code } = await sync.exit;
    expect(code, sync.stderr()).toBe(0);
    const status = runCli(['status', table, '--json'], env);
    expect((await status.exit).code).toBe(0);
    expect(JSON.parse(status.stdout())).toMatchObject([{ table: expect.stringContaining(table), rowsSynced: ROWS, lagRows: 0 }]);
    // The worker reaches ClickHouse only through the https proxy (its keep-alive connection may date from its start).
    expect(chProxy.accepted()).toBeGreaterThan(0);

    const ch = serverClickHouse({ CLICKHOUSE_URL: services().clickhouseUrl });
    try {
      expect(await firstValue(ch, `SELECT toString(count()) AS n FROM ${database}.${table}`)).toBe(String(ROWS));
    } finally {
      await ch.close();
    }

    const secrets = [TLS_PASSWORD, pemBody(readFileSync(certs.clientKey, 'utf8')), decodeURIComponent(new URL(services().clickhouseUrl).password)];
    const connection = await Connection.connect(temporalConnectionOptions(readTemporalConfig(env)));
    const client = new Client({ connection });
    try {
      let runs = 0;
      for await (const wf of client.workflow.list({ query: `WorkflowId = 'sync:${table}'` })) {
        const history = JSON.stringify(await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory());
        for (const secret of secrets) expect(history).not.toContain(secret);
        runs++;
      }
      expect(runs).toBeGreaterThanOrEqual(1);
    } finally {
      await connection.close();
    }
  });
});

describe('the new secrets stay out of what the CLI prints', () => {
  const API_KEY = 'api-Key-secret-9931';
  /** One line, no stack, none of the secrets. */
  function expectClean(stderr: string, pattern: RegExp): void {
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    const key = readFileSync(certs.clientKey, 'utf8');
    for (const secret of [API_KEY, TLS_PASSWORD, pemBody(key), ...key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))]) {
      expect(stderr).not.toContain(secret);
    }
  }

  it('a key that is not the certificate\'s, given in a variable, is one line at start without the key', async () => {
    const run = runCli(['worker'], {
      PG_URL: pgUrl('tlsonly', 'sslmode=require'),
      TEMPORAL_API_KEY: API_KEY,
      TEMPORAL_TLS_CERT_PATH: certs.serverCert,
      TEMPORAL_TLS_KEY_DATA: readFileSync(certs.clientKey, 'utf8'),
    });
    expect((await run.exit).code).toBe(2);
    expectClean(run.stderr(), /^pg2ch: TEMPORAL_TLS_KEY_DATA is not the key of the certificate in TEMPORAL_TLS_CERT_PATH$/);
  });

  it('a refused TLS connection to Temporal with an API key does not print the key', async () => {
    const run = runCli(['status', '--json'], { TEMPORAL_ADDRESS: `localhost:${temporalProxy.port}`, TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS_CA_PATH: certs.ca });
    expect((await run.exit).code).not.toBe(0);
    expectClean(run.stderr(), /^pg2ch: cannot reach Temporal at localhost:\d+: .*check TEMPORAL_ADDRESS and the TLS settings/);
  });

  it('a PostgreSQL certificate check failing at the worker\'s start names PG_URL, without password or client key', async () => {
    await sslOn('server');
    const run = runCli(['worker'], {
      PG_URL: pgUrl('tlsonly', `sslmode=verify-full&sslrootcert=${certs.otherCa}&sslcert=${certs.clientCert}&sslkey=${certs.clientKey}`, 'localhost'),
      CLICKHOUSE_URL: services().clickhouseUrl,
      TEMPORAL_ADDRESS: services().temporalAddress,
      PG2CH_TASK_QUEUE: 'it-tls-bad-pg',
      PG2CH_WORKFLOW_BUNDLE: services().workflowBundlePath,
    });
    expect((await run.exit).code).not.toBe(0);
    expectClean(run.stderr(), /^pg2ch: cannot connect to PostgreSQL at localhost:\d+\/tls_test \(PG_URL\): .*(certificate|verify)/);
  });
});

import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { insertTsv } from '../../activities/clickhouse';
import { startEmbeddedPostgres } from '../../devstack/embedded-postgres';
import { renderChangeRow } from '../../core/change-values';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { readPostgresConfig, secretsOf } from '../../core/config';
import { classify } from '../../core/errors';
import { pgIdent } from '../../core/quote';
import type { TableSettings } from '../../core/table-settings';
import { mapColumn } from '../../core/type-map';
import type { ColumnPlan, TablePlan } from '../../core/types';
import { createPgPool } from '../../worker/connections';
import { envFor, pgPool, services, startWorker, type RunningWorker, type Target } from '../support/harness';
import { COLUMNS, DDL, fill, idsFor, int, mulberry32, pick, valueOf, type Column, type Ctx, type Rng } from '../support/random-values';

// The CDC path renders each value from its output text (what pgoutput sends
// under the session settings pg2ch pins) in the worker; the COPY path
// renders it in SQL through the column's select. Over every type of the
// README's type table, NULLs, extremes, escapes, time zones, infinities and
// out-of-range values under each outOfRange policy, both give the same bytes
// for every row, the same error where the COPY stops, and the same rows in
// ClickHouse. CDC_VALUES_SEED=<seed> replays a failure.
const SEED = Number(process.env.CDC_VALUES_SEED ?? Date.now() % 1_000_000_007);
const ROWS = 240;

/** Types beyond the shared table: text by default, the ';' array delimiter, wide numerics, "char". */
const EXTRA: Column[] = [
  { name: 'mn', pg: 'money', gen: (r) => pick(r, ['0', '-92233720368547758.08', '92233720368547758.07', '1234.5', '-0.01']) },
  { name: 'tv', pg: 'tsvector', gen: (r) => pick(r, ["a fat:2 'it''s'", '', "'\\\\x' tab"]) },
  { name: 'rg', pg: 'int4range', gen: (r) => pick(r, ['empty', '[1,5)', '(,3]', '[-2147483648,)']) },
  { name: 'pt', pg: 'point', gen: (r) => pick(r, ['(1,2)', '(-0.5,1e300)', '(NaN,Infinity)']) },
  { name: 'bx', pg: 'box[]', gen: (r) => pick(r, ['{}', '{(1,1),(0,0);NULL;(3,4),(1,2)}']) },
  { name: 'qc', pg: '"char"', gen: (r) => pick(r, ['a', '', '\\', '\t']) },
  { name: 'n50', pg: 'numeric(50,10)', gen: (r) => `${pick(r, ['', '-'])}${int(r, 0, 9)}${'1234567890'.repeat(int(r, 0, 3))}.${int(r, 0, 99999)}` },
  { name: 'ip0', pg: 'inet', gen: (r) => pick(r, ['10.0.0.1', '::1', '::ffff:1.2.3.4', '10.0.0.0/8', 'fe80::1/64']) },
  { name: 'ipa', pg: 'inet[]', gen: (r) => pick(r, ['{}', '{10.0.0.1,NULL,::1,192.168.0.0/16}']) },
  { name: 'lb', pg: 'integer[]', gen: (r) => pick(r, ['[0:2]={1,NULL,3}', '[-5:-5]={7}']) },
];

/** The text of a COPY TO STDOUT. */
async function copyText(db: pg.Pool, sql: string): Promise<string> {
  const c = await db.connect();
  try {
    const parts: Buffer[] = [];
    for await (const part of c.query(copyTo(sql))) parts.push(part as Buffer);
    return Buffer.concat(parts).toString('utf8');
  } finally {
    c.release();
  }
}

const raw = { getTypeParser: () => (v: string) => v };

/** Each row's values as their output text, as pgoutput sends them: node-postgres's text, unparsed. */
async function outputText(db: pg.Pool, table: string, columns: readonly ColumnPlan[], where = 'true'): Promise<(string | null)[][]> {
  const r = await db.query<(string | null)[]>({
    text: `SELECT ${columns.map((c) => pgIdent(c.name)).join(', ')} FROM ${table} WHERE ${where} ORDER BY id`,
    rowMode: 'array',
    types: raw,
  } as pg.QueryConfig);
  return r.rows;
}

const copySql = (table: string, columns: readonly ColumnPlan[], where = 'true') =>
  `COPY (SELECT ${columns.map((c) => c.select).join(', ')} FROM ${table} WHERE ${where} ORDER BY id) TO STDOUT`;

/** Fields that differ between two TSV texts, named by row and column. */
function differences(columns: readonly ColumnPlan[], copy: string, cdc: string): string[] {
  const [a, b] = [copy.split('\n'), cdc.split('\n')];
  const out: string[] = [];
  if (a.length !== b.length) out.push(`rows: ${a.length - 1} by COPY, ${b.length - 1} rendered`);
  for (let i = 0; i < Math.min(a.length, b.length) && out.length < 20; i++) {
    if (a[i] === b[i]) continue;
    const [fa, fb] = [a[i]!.split('\t'), b[i]!.split('\t')];
    columns.forEach((c, k) => {
      if (fa[k] !== fb[k]) out.push(`row ${i} ${c.name} ${c.pgType} -> ${c.chType}: COPY ${JSON.stringify(fa[k])} rendered ${JSON.stringify(fb[k])}`);
    });
  }
  return out;
}

/** A row's COPY line, or the error the COPY stopped with (as pg2ch classifies it). */
async function copyRow(db: pg.Pool, table: string, columns: readonly ColumnPlan[], id: number): Promise<string> {
  try {
    return await copyText(db, copySql(table, columns, `id = ${id}`));
  } catch (err) {
    const c = classify(err);
    return `error ${c.type}: ${c.message}`;
  }
}

function renderRow(columns: readonly ColumnPlan[], values: (string | null)[]): string {
  try {
    return renderChangeRow(columns, values);
  } catch (err) {
    const c = classify(err);
    return `error ${c.type}: ${c.message}`;
  }
}

describe.each(['embedded', 'server'] as Target[])('CDC values are the COPY path\'s bytes: %s', (target) => {
  const database = `it_cdc_values_${target}`;
  let admin: pg.Pool;
  let db: pg.Pool;
  let worker: RunningWorker;
  let ch: ClickHouseTarget;
  let acts: ReturnType<typeof createActivities>;

  beforeAll(async () => {
    admin = pgPool();
    worker = await startWorker(envFor(target, database, `it-cdc-values-${target}`));
    ch = worker.worker.clickhouse;
    const cfg = worker.config;
    // The worker's own sessions, with core/pg-session.ts's pins: the settings the replication session pins too.
    db = createPgPool(cfg.postgres, 2);
    acts = createActivities({ pg: db, pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
  });

  afterAll(async () => {
    await worker?.stop();
    await db?.end();
    await admin?.end();
  });

  /** The plan the copy path uses (its destination created in ClickHouse). */
  async function planFor(table: string, settings: TableSettings): Promise<TablePlan> {
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${settings.destination ?? table}` });
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${settings.destination ?? table}_cdc` });
    const { plan } = (await new MockActivityEnvironment().run(acts.prepareTable, { table, settings })) as Awaited<ReturnType<typeof acts.prepareTable>>;
    return plan;
  }

  const tsv = async (table: string) => (await ch.client.query({ query: `SELECT * FROM ${database}.${table} ORDER BY id`, format: 'TabSeparated' })).text();

  /** Inserts the COPY's text into the plan's destination and the rendered text into a twin; both hold the same rows. */
  async function expectSameRows(plan: TablePlan, copy: string, cdc: string): Promise<void> {
    const { table } = plan.destination;
    await ch.client.command({ query: `CREATE TABLE ${database}.${table}_cdc AS ${database}.${table}` });
    const insert = (t: string, text: string) =>
      insertTsv(ch, { ...plan, destination: { database, table: t } }, Readable.from([Buffer.from(text)], { objectMode: false }), undefined);
    await insert(table, copy);
    await insert(`${table}_cdc`, cdc);
    const [a, b] = [await tsv(table), await tsv(`${table}_cdc`)];
    expect(a.split('\n').length).toBe(copy.split('\n').length);
    expect(b).toBe(a);
  }

  it('every type, random values with their edges: each row renders to the COPY line, and ClickHouse stores the same rows', { timeout: 300_000 }, async () => {
    console.log(`change-values test (${target}): seed ${SEED}`);
    const r: Rng = mulberry32(SEED);
    // 18.16 reads some float texts and float arrays with NaN wrongly or not at all (see type-fidelity): there floats are ones it reads.
    const ctx: Ctx = { wide: ch.caps.dateTime64, oldServer: !ch.caps.floatTextExact };
    const table = 'cdc_every_type';
    const columns = [...COLUMNS, ...EXTRA];
    await admin.query(DDL(table, columns));
    const filled = columns.filter((c) => c.gen || c.of);
    const ids = idsFor(r, ROWS);
    const rows = ids.map((id) => [id, ...filled.map((c) => valueOf(c, r, ctx))]);
    rows[1] = [ids[1]!, ...filled.map(() => null)];
    rows[2] = [ids[2]!, ...filled.map((c) => (c.of ? '{}' : c.pg === 'bytea' || c.pg === 'text' ? '' : null))];
    await fill(admin, table, rows, columns);

    for (const settings of [{}, { numeric: 'string', destination: `${table}_numeric_string` }] as TableSettings[]) {
      const plan = await planFor(table, settings);
      const copy = await copyText(db, copySql(table, plan.columns));
      const cdc = (await outputText(db, table, plan.columns)).map((v) => renderChangeRow(plan.columns, v)).join('');
      expect(differences(plan.columns, copy, cdc), `seed ${SEED}`).toEqual([]);
      expect(cdc).toBe(copy);
      await expectSameRows(plan, copy, cdc);
    }
    if (ch.caps.jsonType) {
      // The JSON type's object guard over random json and jsonb (NULL for the rest): the lines only, since
      // what the JSON type makes of odd keys is the copy path's business, not the renderer's.
      const plan = await planFor(table, { json: 'json', outOfRange: 'null', destination: `${table}_json` });
      const copy = await copyText(db, copySql(table, plan.columns));
      const cdc = (await outputText(db, table, plan.columns)).map((v) => renderChangeRow(plan.columns, v)).join('');
      expect(differences(plan.columns, copy, cdc), `seed ${SEED}`).toEqual([]);
      expect(plan.columns.find((c) => c.name === 'jb')!.chType).toBe('JSON');
    }
  });

  it('out-of-range values under each outOfRange policy: the same clamped value, NULL, or the same OutOfRange error', { timeout: 300_000 }, async () => {
    const table = 'cdc_out_of_range';
    const json = ch.caps.jsonType;
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, dt date, dnn date NOT NULL DEFAULT '2000-01-01', ts timestamp, tstz timestamptz,
      n numeric(6,2), nf numeric, adt date[], atz timestamptz[], a2 int4[], j jsonb)`);
    const odd: Array<[string, string[]]> = [
      ['dt', ['infinity', '-infinity', '4713-01-01 BC', '2300-01-01', '2299-12-31', '1899-12-31', '1900-01-01', '1969-12-31', '1970-01-01', '2105-12-31', '2106-01-01', '10000-01-01']],
      ['dnn', ['infinity', '1899-12-31', '1969-12-31']],
      ['ts', ['infinity', '-infinity', '0044-03-15 12:00:00.5 BC', '2299-12-31 23:59:59.999999', '2300-01-01 00:00:00', '1899-12-31 23:59:59.999999', '1969-12-31 23:59:59.999999',
        '1970-01-01 00:00:00', '2105-12-31 23:59:59.999999', '2106-01-01 00:00:00', '12000-06-01 00:00:00']],
      ['tstz', ['infinity', '-infinity', '2299-12-31 23:59:59.999999-01', '1900-01-01 00:30:00+01', '1970-01-01 00:59:59.5+01', '2105-12-31 23:30:00-01', '2000-06-01 12:00:00+05:30', '0044-03-15 12:00:00+00 BC']],
      ['n', ['NaN', '9999.99', '-0.01']],
      ['nf', ['NaN', 'Infinity', '-Infinity', `1${'0'.repeat(38)}`, `${'9'.repeat(38)}.5`, `0.${'0'.repeat(38)}1`, `-1.${'7'.repeat(38)}`, `1.5${'0'.repeat(50)}`, '0', '-0.0']],
      ['adt', ['{}', '{2000-01-01,NULL}', '{2000-01-01,infinity}', '[0:1]={2000-01-01,2001-01-01}', '{{2000-01-01},{2001-01-01}}']],
      ['atz', ['{"2000-01-01 00:00:00+00","2300-01-01 00:00:00+00"}', '{"1999-12-31 23:00:00-05"}']],
      ['a2', ['{{1,2},{3,4}}', '[0:1]={1,2}', '{}', '{NULL}']],
      ['j', ['[]', '1', '{"a": [1, "x\\ty"]}', '"s"', 'null', '{}']],
    ];
    let id = 0;
    for (const [col, values] of odd) {
      for (const v of values) await admin.query(`INSERT INTO ${table} (id, ${col}) VALUES ($1, $2)`, [++id, v]);
    }
    await admin.query(`INSERT INTO ${table} (id) VALUES ($1)`, [++id]);
    const ids = Array.from({ length: id }, (_, i) => i + 1);

    for (const outOfRange of ['fail', 'clamp', 'null'] as const) {
      const plan = await planFor(table, { outOfRange, destination: `${table}_${outOfRange}`, ...(json ? { json: 'json' } : {}) });
      const values = await outputText(db, table, plan.columns);
      const copied: string[] = [];
      const rendered: string[] = [];
      const seen = new Set<string>();
      for (const [i, rowId] of ids.entries()) {
        const want = await copyRow(db, table, plan.columns, rowId);
        const got = renderRow(plan.columns, values[i]!);
        expect(got, `${outOfRange}: row ${rowId}`).toBe(want);
        seen.add(want.startsWith('error') ? 'error' : 'line');
        if (!want.startsWith('error')) [copied, rendered].forEach((x, k) => x.push(k === 0 ? want : got));
      }
      // fail and clamp (NaN cannot be clamped) meet both outcomes; null stores every row.
      expect([...seen].sort(), outOfRange).toEqual(outOfRange === 'null' ? ['line'] : ['error', 'line']);
      await expectSameRows(plan, copied.join(''), rendered.join(''));
    }
  });
});

describe('CDC floats for the old reader, over random bit patterns', () => {
  let db: pg.Pool;
  beforeAll(() => {
    db = pgPool();
  });
  afterAll(async () => {
    await db?.end();
  });

  it('the 19 digits the old server reads exactly are to_char\'s, ties to even; current servers get PostgreSQL\'s shortest text', { timeout: 120_000 }, async () => {
    const r = mulberry32(SEED);
    const view = new DataView(new ArrayBuffer(8));
    const randomDouble = (): number => {
      view.setUint32(0, int(r, 0, 0xffffffff));
      view.setUint32(4, int(r, 0, 0xffffffff));
      const x = view.getFloat64(0);
      return Number.isFinite(x) ? x : 0;
    };
    // Ties at the 19th digit (k / 2^19 has exactly 20 significant digits), both exponent ends, powers of ten.
    const edges = [1 + 2 ** -19, 1 + 5 * 2 ** -19, 2 ** 63, 2 ** 64 - 2048, 9.999999999999999e22, 5e-324, 2.2250738585072014e-308, 1e-306, 1e-307, 1e308, 0.1, 123.456, 1e18, 1e19, 1e-10, 1e30];
    const doubles = [...edges, ...edges.map((x) => -x), ...Array.from({ length: 6000 }, randomDouble), ...Array.from({ length: 2000 }, () => (r() - 0.5) * 10 ** int(r, -320, 308))];
    await db.query('DROP TABLE IF EXISTS cdc_floats');
    await db.query('CREATE TABLE cdc_floats (id int PRIMARY KEY, d float8, f float4, ad float8[], af float4[])');
    const text = (x: number) => (Object.is(x, -0) ? '-0' : String(x));
    const randomSingle = (): number => {
      view.setUint32(0, int(r, 0, 0xffffffff));
      const x = view.getFloat32(0);
      return Number.isFinite(x) ? x : 0;
    };
    const singles = [...[1 + 2 ** -19, 2 ** -149, 3.4028234663852886e38, 1.1754943508222875e-38, 0.1, 16777217].map(Math.fround), ...Array.from({ length: doubles.length - 6 }, randomSingle)];
    await db.query(`INSERT INTO cdc_floats SELECT n, d, f, ARRAY[d, NULL, 'NaN'], ARRAY[f, 'Infinity'] FROM unnest($1::float8[], $2::float4[]) WITH ORDINALITY AS u(d, f, n)`, [
      [...doubles.map(text), 'NaN', 'Infinity', '-Infinity', '-0', '0'],
      [...singles.map(text), 'NaN', '-Infinity', 'Infinity', '-0', '0'],
    ]);
    // Output text and COPY under pg2ch's pinned settings (extra_float_digits=1 among them).
    const session = createPgPool(readPostgresConfig({ PG_URL: services().pgUrl }), 1);
    try {
      for (const version of ['18.16.1', '26.7.2.1']) {
        const caps = { ...capabilitiesFor(version), arraysReadEscaped: version !== '18.16.1' };
        const columns = [
          { name: 'id', type: 'integer', typname: 'int4', typtype: 'b', notNull: true },
          { name: 'd', type: 'double precision', typname: 'float8', typtype: 'b', notNull: false },
          { name: 'f', type: 'real', typname: 'float4', typtype: 'b', notNull: false },
          { name: 'ad', type: 'double precision[]', typname: '_float8', typtype: 'b', notNull: false, elemTypname: 'float8', elemTyptype: 'b' },
          { name: 'af', type: 'real[]', typname: '_float4', typtype: 'b', notNull: false, elemTypname: 'float4', elemTyptype: 'b' },
        ].map((c) => mapColumn(c, caps, c.name === 'id'));
        const copy = await copyText(session, copySql('cdc_floats', columns));
        const cdc = (await outputText(session, 'cdc_floats', columns)).map((v) => renderChangeRow(columns, v)).join('');
        expect(differences(columns, copy, cdc), `${version}, seed ${SEED}`).toEqual([]);
      }
    } finally {
      await session.end();
    }
  });
});

/** PostgreSQL with wal_level=logical: the shared one when it has it, else a cluster of this test's own. */
async function logicalPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const shared = new pg.Pool({ connectionString: services().pgUrl, max: 1 });
  try {
    if ((await shared.query<{ w: string }>(`SELECT current_setting('wal_level') AS w`)).rows[0]!.w === 'logical') return { url: services().pgUrl, stop: async () => {} };
  } finally {
    await shared.end();
  }
  const opts = { dataDir: join(services().workDir, 'pg-logical', 'data'), database: 'pg2ch_logical', password: 'cdc-values' };
  const first = await startEmbeddedPostgres(opts);
  const admin = new pg.Pool({ connectionString: first.url, max: 1 });
  // The stop below ends its connection from the server's side.
  admin.on('error', () => {});
  await admin.query(`ALTER SYSTEM SET wal_level = 'logical'`);
  await admin.end();
  await first.stop();
  // The same cluster again: ALTER SYSTEM's settings apply from this start.
  const pgl = await startEmbeddedPostgres({ ...opts, port: first.port });
  return { url: pgl.url, stop: pgl.stop };
}

/** pgoutput (protocol 1) messages: the columns of each relation, and each insert's values as sent ('u': unchanged TOAST). */
function decodePgoutput(messages: Buffer[]): { columns: string[]; rows: (string | null | { unchanged: true })[][] } {
  let columns: string[] = [];
  const rows: (string | null | { unchanged: true })[][] = [];
  for (const m of messages) {
    let i = 1;
    const int16 = () => ((i += 2), m.readInt16BE(i - 2));
    const int32 = () => ((i += 4), m.readInt32BE(i - 4));
    const cstring = () => {
      const end = m.indexOf(0, i);
      const s = m.toString('utf8', i, end);
      i = end + 1;
      return s;
    };
    const kind = String.fromCharCode(m[0]!);
    if (kind === 'R') {
      int32();
      cstring();
      cstring();
      i++;
      const n = int16();
      columns = [];
      for (let k = 0; k < n; k++) {
        i++;
        columns.push(cstring());
        int32();
        int32();
      }
    } else if (kind === 'I') {
      int32();
      if (String.fromCharCode(m[i++]!) !== 'N') throw new Error('insert without a new tuple');
      const n = int16();
      const row: (string | null | { unchanged: true })[] = [];
      for (let k = 0; k < n; k++) {
        const t = String.fromCharCode(m[i++]!);
        if (t === 'n') row.push(null);
        else if (t === 'u') row.push({ unchanged: true });
        else if (t === 't') {
          const len = int32();
          row.push(m.toString('utf8', i, i + len));
          i += len;
        } else throw new Error(`tuple value kind ${t}`);
      }
      rows.push(row);
    }
  }
  return { columns, rows };
}

describe('pgoutput sends each value as its output text', () => {
  let source: { url: string; stop: () => Promise<void> };
  let session: pg.Pool;

  beforeAll(async () => {
    source = await logicalPostgres();
    session = createPgPool(readPostgresConfig({ PG_URL: source.url }), 1);
  }, 180_000);

  afterAll(async () => {
    await session?.end();
    await source?.stop();
  });

  it('the text of every type in a logical replication insert is what the renderer is given (node-postgres text under the pinned settings)', { timeout: 180_000 }, async () => {
    const r = mulberry32(SEED);
    const table = 'cdc_pgoutput';
    const columns = [...COLUMNS, ...EXTRA];
    await session.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'cdc_values_test'`);
    await session.query(DDL(table, columns));
    // Without publish_generated_columns (PostgreSQL 18+) pgoutput leaves stored generated columns out, which the copy path has.
    const v18 = Number((await session.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v) >= 180000;
    await session.query(`DROP PUBLICATION IF EXISTS cdc_values_test; CREATE PUBLICATION cdc_values_test FOR TABLE ${table}${v18 ? ' WITH (publish_generated_columns = stored)' : ''}`);
    await session.query(`SELECT pg_create_logical_replication_slot('cdc_values_test', 'pgoutput')`);
    try {
      const filled = columns.filter((c) => c.gen || c.of);
      const ids = idsFor(r, 60);
      const rows = ids.map((id) => [id, ...filled.map((c) => valueOf(c, r, { wide: true, oldServer: false }))]);
      rows[1] = [ids[1]!, ...filled.map(() => null)];
      await fill(session, table, rows, columns);
      const peeked = await session.query<{ data: Buffer }>(
        `SELECT data FROM pg_logical_slot_peek_binary_changes('cdc_values_test', NULL, NULL, 'proto_version', '1', 'publication_names', 'cdc_values_test')`,
      );
      const sent = decodePgoutput(peeked.rows.map((x) => x.data));
      expect(sent.columns).toEqual(['id', ...columns.filter((c) => v18 || c.gen || c.of).map((c) => c.name)]);
      const names = sent.columns.map((name) => ({ name }) as ColumnPlan);
      const text = await outputText(session, table, names);
      expect(sent.rows.length).toBe(ids.length);
      expect(sent.rows, `seed ${SEED}`).toEqual(text);
    } finally {
      await session.query(`SELECT pg_drop_replication_slot('cdc_values_test')`);
      await session.query(`DROP PUBLICATION IF EXISTS cdc_values_test`);
    }
  });
});

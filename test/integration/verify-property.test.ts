import { Readable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { insertTsv } from '../../activities/clickhouse';
import { copyStatement } from '../../activities/serialize';
import { chRangeText, pgRangeText, type Mismatch } from '../../activities/verify';
import { startSync } from '../../client/commands/sync';
import { readTemporalConfig, secretsOf } from '../../core/config';
import { canonicalField } from '../../core/row-digest';
import type { TableSettings } from '../../core/table-settings';
import type { ChunkRange, TablePlan } from '../../core/types';
import { verifyTable, type VerifyResult } from '../../workflows/verify';
import { createPgPool } from '../../worker/connections';
import { envFor, services, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// verify never lies: over a table with a column of every type of the README's
// type table, filled with random values and their edges, verify finds a
// fresh sync equal, and finds exactly the rows where one value was changed.
// The PRNG is seeded: a failure prints its seed, and VERIFY_SEED=<seed>
// replays it.
const SEED = Number(process.env.VERIFY_SEED ?? Date.now() % 1_000_000_007);
const ROWS = 240;

type Rng = () => number;
function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T,>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const digits = (r: Rng, n: number) => Array.from({ length: n }, () => int(r, 0, 9)).join('');
function bigInt(r: Rng, lo: bigint, hi: bigint): string {
  const span = hi - lo + 1n;
  const x = (BigInt(int(r, 0, 2 ** 31)) << 40n) ^ (BigInt(int(r, 0, 2 ** 20)) << 20n) ^ BigInt(int(r, 0, 2 ** 20));
  return String(lo + (x % span));
}

/** What the target holds: the old server's dates and times run 1970-2105 in whole seconds. */
interface Ctx {
  wide: boolean;
  /**
   * 18.16 reads many float texts a unit in the last place off, denormals as
   * 0, and float arrays with NaN or infinities not at all (the types
   * package's items): there floats are ones it reads exactly.
   */
  oldServer: boolean;
}

/** Floats any parser reads exactly: small integers and halves, quarters, eighths. */
const exactFloat = (r: Rng) => (r() < 0.2 ? pick(r, ['0', '-0', '1', '-1']) : String(int(r, -1_000_000, 1_000_000) / pick(r, [1, 2, 4, 8])));

const STR_PARTS = ["'", "''", '"', '\\', '\\\\', '\\N', '\\t', '\t', '\n', '\r', '\u0001', '\u007f', 'é', '🎉', 'ж', 'مرحبا', ',', '[', ']', '{', '}', '(', 'NULL', 'null', ' ', 'a', 'Z', '0', '$', '`'];
const str = (r: Rng, max = 8) => (r() < 0.1 ? '' : Array.from({ length: int(r, 1, max) }, () => pick(r, STR_PARTS)).join(''));
const chars = (s: string, n: number) => Array.from(s).slice(0, n).join('');

function floatText(r: Rng, edges: string[], exp: [number, number], precision: number): string {
  if (r() < 0.3) return pick(r, edges);
  const v = (r() - 0.5) * 10 ** int(r, exp[0], exp[1]);
  return r() < 0.3 ? String(Math.round(v * 100) / 100) : v.toPrecision(int(r, 1, precision));
}

function dateText(r: Rng, c: Ctx): string {
  const [lo, hi] = c.wide ? [1900, 2299] : [1970, 2105];
  if (r() < 0.25) return pick(r, c.wide ? ['1900-01-01', '2299-12-31', '1970-01-01', '1969-12-31', '2000-02-29'] : ['1970-01-01', '1970-01-02', '2105-12-31', '2000-02-29']);
  return `${int(r, lo, hi)}-${pad(int(r, 1, 12), 2)}-${pad(int(r, 1, 28), 2)}`;
}

function timeText(r: Rng): string {
  const frac = r() < 0.5 ? '' : `.${digits(r, int(r, 1, 6))}`;
  return `${pad(int(r, 0, 23), 2)}:${pad(int(r, 0, 59), 2)}:${pad(int(r, 0, 59), 2)}${frac}`;
}

function timestampText(r: Rng, c: Ctx): string {
  if (r() < 0.2) return pick(r, c.wide ? ['1900-01-01 00:00:00', '2299-12-31 23:59:59.999999', '1970-01-01 00:00:00', '1969-12-31 23:59:59.5'] : ['1970-01-01 00:00:00', '1970-01-01 00:00:01', '2105-12-31 23:59:59.999999']);
  return `${dateText(r, c)} ${timeText(r)}`;
}

function jsonText(r: Rng): string {
  if (r() < 0.3) {
    return pick(r, ['{}', '[]', 'null', '"just a string"', '12345678901234567890.123456789', '1.50', '{"a" : 1 ,  "b":[ ]}', '{"esc": "q\\" b\\\\ n\\n t\\t u\\u00e9 \\ud83c\\udf89"}', `{"s": "it's"}`, '{"ctl": "\\u0001\\u001f"}', '{"b":1,"a":2,"b":3}']);
  }
  const value = (depth: number): unknown => {
    const k = int(r, 0, depth > 1 ? 3 : 5);
    if (k === 0) return str(r, 4);
    if (k === 1) return Number(floatText(r, ['0', '-1', '1e300'], [-5, 15], 12));
    if (k === 2) return pick(r, [true, false, null]);
    if (k === 3) return int(r, -1000, 1000);
    if (k === 4) return Array.from({ length: int(r, 0, 3) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: int(r, 0, 3) }, () => [str(r, 3), value(depth + 1)]));
  };
  return JSON.stringify(value(0), null, pick(r, [0, 1, '\t']));
}

const hexByte = (b: number) => b.toString(16).padStart(2, '0');
/** Empty, NUL, high bytes, and the bytes text escaping cares about (\\ ' " tab newline). */
const byteaText = (r: Rng) => `\\x${Array.from({ length: int(r, 0, 10) }, () => hexByte(pick(r, [0, 255, 92, 39, 34, 9, 10, 127, 128, int(r, 0, 255)]))).join('')}`;
const uuidText = (r: Rng) => (r() < 0.2 ? pick(r, ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF']) : Array.from({ length: 32 }, () => int(r, 0, 15).toString(16)).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'));

interface Column {
  name: string;
  pg: string;
  /** A random value as PostgreSQL input text, or null. */
  gen?: (r: Rng, c: Ctx) => string | null;
  /** Two distinct values (input text) for the change: the row gets a, or b where it holds a. */
  change?: [string, string];
  /** An array column: its elements come from this column's generator. */
  of?: string;
}

const F4_EDGES = ['NaN', 'Infinity', '-Infinity', '-0', '0', '1e-45', '1.17549435e-38', '3.4028235e38', '-3.4028235e38', '16777217', '0.1'];
const F8_EDGES = ['NaN', 'Infinity', '-Infinity', '-0', '0', '5e-324', '2.2250738585072014e-308', '1.7976931348623157e308', '1e20', '1e21', '1e-7', '0.1', '9007199254740993'];
const ODD_FLOATS = /^(NaN|-?Infinity|1e-45|5e-324|1\.17549435e-38|2\.2250738585072014e-308)$/;

const SCALARS: Column[] = [
  { name: 'i2', pg: 'smallint', gen: (r) => (r() < 0.3 ? pick(r, ['-32768', '32767', '0', '-1']) : String(int(r, -32768, 32767))), change: ['12321', '12322'] },
  { name: 'i4', pg: 'integer', gen: (r) => (r() < 0.3 ? pick(r, ['-2147483648', '2147483647', '0']) : String(int(r, -2147483648, 2147483647))), change: ['12321', '12322'] },
  { name: 'i8', pg: 'bigint', gen: (r) => (r() < 0.3 ? pick(r, ['-9223372036854775808', '9223372036854775807', '9007199254740993', '0']) : bigInt(r, -(2n ** 63n), 2n ** 63n - 1n)), change: ['12321', '12322'] },
  { name: 'dom', pg: 'posint', gen: (r) => String(int(r, 1, 2147483647)), change: ['12321', '12322'] },
  { name: 'n', pg: 'numeric(12,4)', gen: (r) => (r() < 0.3 ? pick(r, ['0', '1.2', '1.2000', '-99999999.9999', '99999999.9999', '0.0001', '10']) : `${pick(r, ['', '-'])}${int(r, 0, 99999999)}.${digits(r, int(r, 0, 4))}`.replace(/\.$/, '')), change: ['4242.4242', '4242.4243'] },
  { name: 'nw', pg: 'numeric(30,6)', gen: (r) => `${pick(r, ['', '-'])}${digits(r, int(r, 1, 24))}.${digits(r, int(r, 0, 6))}`.replace(/\.$/, ''), change: ['4242.4242', '4242.4243'] },
  { name: 'nf', pg: 'numeric', gen: (r) => (r() < 0.3 ? pick(r, ['0', '1.50', '-0.00000000000000000000000000000000000001', `${'9'.repeat(37)}.${'9'.repeat(38)}`, '100']) : `${pick(r, ['', '-'])}${digits(r, int(r, 1, 30))}.${digits(r, int(r, 0, 30))}`.replace(/\.$/, '')), change: ['4242.4242', '4242.4243'] },
  { name: 'r', pg: 'real', gen: (r, c) => (c.oldServer ? (r() < 0.1 ? pick(r, ['NaN', 'Infinity', '-Infinity']) : exactFloat(r)) : floatText(r, F4_EDGES, [-40, 38], 9)), change: ['4242.5', '4243.5'] },
  { name: 'd', pg: 'double precision', gen: (r, c) => (c.oldServer ? (r() < 0.1 ? pick(r, ['NaN', 'Infinity', '-Infinity']) : exactFloat(r)) : floatText(r, F8_EDGES, [-300, 300], 17)), change: ['4242.5', '4243.5'] },
  { name: 'b', pg: 'boolean', gen: (r) => pick(r, ['true', 'false']), change: ['true', 'false'] },
  { name: 't', pg: 'text', gen: (r) => str(r), change: ['changed a', 'changed b'] },
  { name: 'vc', pg: 'varchar(12)', gen: (r) => chars(str(r), 12), change: ['changed a', 'changed b'] },
  { name: 'nm', pg: 'name', gen: (r) => chars(str(r, 4), 12), change: ['changed a', 'changed b'] },
  { name: 'ch', pg: 'char(5)', gen: (r) => chars(str(r, 3), 5), change: ['ca', 'cb'] },
  { name: 'x', pg: 'xml', gen: (r) => pick(r, ['<a/>', `<a>it's &amp; "q" \\ é🎉</a>`, '<b x="1">\ttab\nline</b>', 'plain text', '']), change: ['<c>a</c>', '<c>b</c>'] },
  { name: 'js', pg: 'json', gen: jsonText, change: ['{"changed": "a"}', '{"changed": "b"}'] },
  { name: 'jb', pg: 'jsonb', gen: jsonText, change: ['{"changed": "a"}', '{"changed": "b"}'] },
  { name: 'tm', pg: 'time', gen: (r) => (r() < 0.2 ? pick(r, ['00:00:00', '23:59:59.999999', '24:00:00']) : timeText(r)), change: ['01:02:03', '01:02:04'] },
  { name: 'ttz', pg: 'timetz', gen: (r) => `${timeText(r)}${pick(r, ['+00', '+05:30', '-08'])}`, change: ['01:02:03+00', '01:02:04+00'] },
  { name: 'iv', pg: 'interval', gen: (r) => (r() < 0.3 ? pick(r, ['-178000000 years', '1 year 2 mons 3 days 04:05:06.789', '0', '-1 day +02:00']) : `${int(r, -500, 500)} days ${int(r, 0, 23)} hours ${int(r, 0, 59)} minutes`), change: ['1 day', '2 days'] },
  { name: 'ip', pg: 'inet', gen: (r) => (r() < 0.3 ? pick(r, ['0.0.0.0', '2001:db8::1', '::ffff:1.2.3.4/128', '192.168.0.1/24']) : `${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 0, 255)}/${int(r, 8, 32)}`), change: ['10.0.0.1', '10.0.0.2'] },
  { name: 'cid', pg: 'cidr', gen: (r) => pick(r, ['10.0.0.0/8', '192.168.0.0/24', '2001:db8::/32', '0.0.0.0/0']), change: ['10.1.0.0/16', '10.2.0.0/16'] },
  { name: 'mac', pg: 'macaddr', gen: (r) => Array.from({ length: 6 }, () => hexByte(int(r, 0, 255))).join(':'), change: ['08:00:2b:01:02:03', '08:00:2b:01:02:04'] },
  { name: 'bt', pg: 'bit(8)', gen: (r) => digits(r, 8).replace(/[2-9]/g, '1'), change: ['10101010', '01010101'] },
  { name: 'vb', pg: 'varbit', gen: (r) => Array.from({ length: int(r, 0, 12) }, () => pick(r, ['0', '1'])).join(''), change: ['101', '110'] },
  { name: 'by', pg: 'bytea', gen: byteaText, change: ['\\x0a0b', '\\x0a0c'] },
  { name: 'md', pg: 'mood', gen: (r) => pick(r, ['sad', 'ok', 'happy 😀', "it's"]), change: ['sad', 'ok'] },
  { name: 'u', pg: 'uuid', gen: uuidText, change: ['11111111-2222-3333-4444-555555555555', '11111111-2222-3333-4444-555555555556'] },
  { name: 'dt', pg: 'date', gen: dateText, change: ['2001-02-03', '2001-02-04'] },
  { name: 'ts', pg: 'timestamp', gen: timestampText, change: ['2001-02-03 04:05:06', '2001-02-03 04:05:07'] },
  {
    name: 'tstz',
    pg: 'timestamptz',
    // Away from the range's ends, an offset cannot carry the value out of it.
    gen: (r, c) => (r() < 0.3 ? `${timestampText(r, c)}+00` : `${String(int(r, c.wide ? 1901 : 1971, c.wide ? 2298 : 2104))}-${pad(int(r, 1, 12), 2)}-${pad(int(r, 1, 28), 2)} ${timeText(r)}${pick(r, ['+05:30', '-08', '+14'])}`),
    change: ['2001-02-03 04:05:06+00', '2001-02-03 04:05:07+00'],
  },
];

const quoteEl = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** PostgreSQL array input text: every element double-quoted, so any text fits. */
function arrayText(r: Rng, c: Ctx, gen: (r: Rng, c: Ctx) => string | null, odd: (v: string) => boolean): string {
  const n = r() < 0.15 ? 0 : int(r, 1, 4);
  const els: string[] = [];
  while (els.length < n) {
    const v = r() < 0.2 ? null : gen(r, c);
    if (v !== null && odd(v)) continue;
    els.push(v === null ? 'NULL' : quoteEl(v));
  }
  return `{${els.join(',')}}`;
}

const ARRAY_OF = ['i2', 'i4', 'i8', 'n', 'nf', 'r', 'd', 'b', 't', 'vc', 'ch', 'js', 'jb', 'tm', 'iv', 'ip', 'by', 'md', 'u', 'dt', 'ts', 'tstz'];
const ARRAYS: Column[] = ARRAY_OF.map((of) => {
  const el = SCALARS.find((s) => s.name === of)!;
  return { name: `a_${of}`, pg: `${el.pg}[]`, of, change: [`{${quoteEl(el.change![0])}}`, `{${quoteEl(el.change![0])},NULL}`] };
});
const COLUMNS: Column[] = [...SCALARS, ...ARRAYS, { name: 'gen', pg: 'numeric GENERATED ALWAYS AS (n * 2) STORED' }];

function valueOf(col: Column, r: Rng, c: Ctx): string | null {
  if (col.of) {
    const el = SCALARS.find((s) => s.name === col.of)!;
    const floats = col.of === 'r' || col.of === 'd';
    return r() < 0.1 ? null : arrayText(r, c, el.gen!, (v) => floats && c.oldServer && ODD_FLOATS.test(v));
  }
  return r() < 0.15 ? null : col.gen!(r, c);
}

/** Distinct ids with gaps, both int8 extremes included. */
function idsFor(r: Rng): string[] {
  const ids = new Set<string>(['-9223372036854775808', '9223372036854775807', '0']);
  while (ids.size < ROWS) ids.add(r() < 0.5 ? String(int(r, -1000, 100_000)) : bigInt(r, -(2n ** 62n), 2n ** 62n));
  return [...ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

const DDL = (table: string) => `
  DROP TABLE IF EXISTS ${table};
  DO $$ BEGIN CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀', 'it''s'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
  DO $$ BEGIN CREATE DOMAIN posint AS integer CHECK (VALUE > 0); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
  CREATE TABLE ${table} (id bigint PRIMARY KEY, ${COLUMNS.map((c) => `${c.name} ${c.pg}`).join(', ')})`;

async function fill(pool: pg.Pool, table: string, rows: Array<Array<string | null>>): Promise<void> {
  const names = COLUMNS.filter((c) => c.gen || c.of).map((c) => c.name);
  for (let i = 0; i < rows.length; i += 20) {
    const batch = rows.slice(i, i + 20);
    const params: Array<string | null> = [];
    const tuples = batch.map((row) => `(${row.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
    await pool.query(`INSERT INTO ${table} (id, ${names.join(', ')}) VALUES ${tuples.join(', ')}`, params);
  }
}

describe.each(['embedded', 'server'] as Target[])('verify tells equal from unequal, every type: %s', (target) => {
  const database = `it_verify_${target}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;
  let workerPool: pg.Pool;

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: services().pgUrl, max: 2 });
    env = envFor(target, database, `it-verify-${target}`);
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    workerPool = createPgPool(worker.config.postgres, 2);
    client = await temporalClient();
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
    await workerPool?.end();
  });

  const sync = (table: string, settings: TableSettings = {}) =>
    startSync(client, readTemporalConfig(env), table, { once: true, chunkRows: 100, settings }, () => {});

  const verify = (table: string, settings: TableSettings = {}, bucketRows = 1, repair = false) =>
    client.workflow.execute(verifyTable, {
      workflowId: `verify-${database}-${table}-${Date.now()}`,
      taskQueue: readTemporalConfig(env).taskQueue,
      args: [{ table, bucketRows, settings, repair }],
    });

  const planOf = async (table: string, settings: TableSettings): Promise<TablePlan> => {
    const cfg = worker.config;
    const acts = createActivities({ pg: workerPool, pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
    const out = (await new MockActivityEnvironment().run(acts.planVerify, { table, settings })) as { plan: TablePlan };
    return out.plan;
  };

  /** For a failure message: which columns of a differing range differ, both sides' fields. */
  async function explain(table: string, settings: TableSettings, ms: Mismatch[]): Promise<string[]> {
    const plan = await planOf(table, settings);
    const out: string[] = [];
    for (const m of ms.slice(0, 20)) {
      const range: ChunkRange = { afterId: m.afterId, toId: m.toId, rows: 0 };
      const [p, c] = await Promise.all([pgRangeText(workerPool, plan, range), chRangeText(ch, plan, range)]);
      const [pl, cl] = [p.split('\n')[0]?.split('\t') ?? [], c.split('\n')[0]?.split('\t') ?? []];
      plan.columns.forEach((col, i) => {
        if (canonicalField(col.chType, pl[i] ?? '') !== canonicalField(col.chType, cl[i] ?? '')) {
          out.push(`(${m.afterId}, ${m.toId}] ${col.name} ${col.chType}: PostgreSQL ${JSON.stringify(pl[i])} ClickHouse ${JSON.stringify(cl[i])}`);
        }
      });
      if (p.split('\n').length !== c.split('\n').length) out.push(`(${m.afterId}, ${m.toId}] rows: ${p.split('\n').length - 1} vs ${c.split('\n').length - 1}`);
    }
    return out;
  }

  async function expectEqual(table: string, settings: TableSettings, result: VerifyResult, rows: number): Promise<void> {
    const why = result.equal ? [] : await explain(table, settings, result.mismatches);
    expect(why.join('\n'), `seed ${SEED}`).toBe('');
    expect(result, `seed ${SEED}`).toMatchObject({ equal: true, rows });
  }

  it(`a fresh sync is equal; one changed value in each column is exactly its row (seed printed on failure)`, { timeout: 600_000 }, async () => {
    console.log(`verify property test (${target}): seed ${SEED}`);
    const r = mulberry32(SEED);
    const ctx: Ctx = { wide: ch.caps.dateTime64, oldServer: !ch.caps.dateTime64 };
    const table = 'every_type';
    await pool.query(DDL(table));
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
    const ids = idsFor(r);
    const rows = ids.map((id) => [id, ...COLUMNS.filter((c) => c.gen || c.of).map((c) => valueOf(c, r, ctx))]);
    // Every column's NULL, and (arrays) its empty value, in the first rows.
    rows[1] = [ids[1]!, ...COLUMNS.filter((c) => c.gen || c.of).map(() => null)];
    rows[2] = [ids[2]!, ...COLUMNS.filter((c) => c.gen || c.of).map((c) => (c.of ? '{}' : c.pg === 'bytea' || c.pg === 'text' ? '' : null))];
    await fill(pool, table, rows);
    expect((await sync(table))!.rows).toBe(ROWS);
    await expectEqual(table, {}, await verify(table), ROWS);

    // Column k's change goes to its own row, so each differing range names one column.
    const changed = COLUMNS.filter((c) => c.change).map((c, k) => ({ col: c, id: ids[3 + 3 * k]! }));
    expect(changed.length * 3 + 3).toBeLessThan(ROWS);
    for (const { col, id } of changed) {
      const [a, b] = col.change!;
      const type = col.pg;
      await pool.query(`UPDATE ${table} SET ${col.name} = CASE WHEN ${col.name}::text IS NOT DISTINCT FROM $1::${type}::text THEN $2::${type} ELSE $1::${type} END WHERE id = $3`, [a, b, id]);
    }
    const found = await verify(table);
    const got = found.mismatches.map((m) => m.toId).sort();
    const want = changed.map((c) => c.id).sort();
    const missed = changed.filter((c) => !got.includes(c.id)).map((c) => `${c.col.name} at id ${c.id}`);
    const extra = found.mismatches.filter((m) => !want.includes(m.toId));
    expect([...missed, ...(await explain(table, {}, extra))].join('\n'), `seed ${SEED}`).toBe('');
    expect(found.equal).toBe(false);
  });

  it('by key (updated mode, FINAL): a fresh sync is equal; a changed value with an older updated_at is stale, and --repair makes it equal, every type', { timeout: 600_000 }, async () => {
    const r = mulberry32(SEED + 1);
    const ctx: Ctx = { wide: ch.caps.dateTime64, oldServer: !ch.caps.dateTime64 };
    const table = 'every_type_keyed';
    const settings: TableSettings = { mode: 'updated' };
    await pool.query(DDL(table));
    await pool.query(`ALTER TABLE ${table} ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'`);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
    const ids = idsFor(r);
    const rows = ids.map((id) => [id, ...COLUMNS.filter((c) => c.gen || c.of).map((c) => valueOf(c, r, ctx))]);
    rows[1] = [ids[1]!, ...COLUMNS.filter((c) => c.gen || c.of).map(() => null)];
    await fill(pool, table, rows);
    expect((await sync(table, settings))!.rows).toBe(ROWS);
    const clean = await verify(table, settings);
    expect(clean.byKey, `seed ${SEED}`).toMatchObject({ rows: ROWS, report: { stale: 0, missing: 0, extra: 0 } });
    // Each column's change in its own row, stamped older than what ClickHouse holds.
    const changed = COLUMNS.filter((c) => c.change).map((c, k) => ({ col: c, id: ids[3 + 3 * k]! }));
    for (const { col, id } of changed) {
      const [a, b] = col.change!;
      const type = col.pg;
      await pool.query(
        `UPDATE ${table} SET ${col.name} = CASE WHEN ${col.name}::text IS NOT DISTINCT FROM $1::${type}::text THEN $2::${type} ELSE $1::${type} END, updated_at = '2000-01-01' WHERE id = $3`,
        [a, b, id],
      );
    }
    const found = (await verify(table, settings)).byKey!;
    expect(found.report, `seed ${SEED}`).toMatchObject({ stale: changed.length, missing: 0, extra: 0 });
    const want = changed.map((c) => c.id);
    expect(found.report.samples.stale.filter((k) => !want.includes(k)), `seed ${SEED}`).toEqual([]);
    const repaired = await verify(table, settings, 1, true);
    expect(repaired.byKey, `seed ${SEED}`).toMatchObject({ repaired: { deleted: changed.length, copied: changed.length }, report: { stale: 0, missing: 0, extra: 0 } });
    expect(repaired.equal).toBe(true);
  });

  it('rows whose values were clamped or nulled are equal to what the sync meant to store; a real change is still found', { timeout: 300_000 }, async () => {
    const table = 'out_of_range';
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, dt date, ts timestamp, tstz timestamptz, n numeric(6,2))`);
    const wide = ch.caps.dateTime64;
    const odd = ['infinity', '-infinity', '4713-01-01 BC', '2300-01-01', '9999-12-31', ...(wide ? ['1899-12-31'] : ['1969-12-31', '1900-01-01', '2106-01-01'])];
    const values: Array<[number, string, string, string, string | null]> = odd.map((v, i) => [i + 1, v, v, v === '4713-01-01 BC' ? v : `${v}${v.includes('infinity') ? '' : ' 00:00:00+00'}`, i % 2 ? 'NaN' : '1.50']);
    values.push([100, '2000-01-01', '2000-01-01 00:00:00.5', '2000-01-01 00:00:00+00', '2.00'], [101, '1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', null]);
    for (const v of values) await pool.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5)`, v);
    const policies: Array<[string, TableSettings]> = [
      // 18.16 cannot yet read a clamped timestamptz (the types package's item).
      ['clamp', { outOfRange: 'clamp', destination: `${table}_clamp`, exclude: wide ? ['n'] : ['n', 'tstz'] }],
      ['null', { outOfRange: 'null', destination: `${table}_null` }],
    ];
    for (const [, s] of policies) await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${s.destination}` });
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
    for (const [, s] of policies) {
      expect((await sync(table, s))!.rows).toBe(values.length);
      await expectEqual(table, s, await verify(table, s), values.length);
    }
    // An out-of-range value made in range is a change.
    await pool.query(`UPDATE ${table} SET dt = '2001-01-01' WHERE id = 1`);
    for (const [name, s] of policies) {
      const found = await verify(table, s);
      expect(found.mismatches.map((m) => m.toId), name).toEqual(['1']);
    }
  });
});

describe.each(['embedded', 'server'] as Target[])('verify compares bytea with its documented hex form: %s', (target) => {
  const database = `it_verify_bytea_${target}`;
  const ESCAPE_DB = 'pg2ch_verify_escape';
  let admin: pg.Pool;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;
  const urlFor = (db: string) => Object.assign(new URL(services().pgUrl), { pathname: `/${db}` }).toString();

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: services().pgUrl, max: 1 });
    if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [ESCAPE_DB])).rowCount === 0) await admin.query(`CREATE DATABASE ${ESCAPE_DB}`);
    // A database default that changes how bytea prints: the stored form must still be hex.
    await admin.query(`ALTER DATABASE ${ESCAPE_DB} SET bytea_output = 'escape'`);
    pool = new pg.Pool({ connectionString: urlFor(ESCAPE_DB), max: 2 });
    env = { ...envFor(target, database, `it-verify-bytea-${target}`), PG_URL: urlFor(ESCAPE_DB) };
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
    await admin?.end();
  });

  it('a destination holding the escape form differs; one holding the hex form is equal', { timeout: 300_000 }, async () => {
    const table = 'blobs';
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, b bytea, bs bytea[])`);
    await pool.query(`INSERT INTO ${table} VALUES (1, '\\x00ff5c27', ARRAY['\\x0a'::bytea, NULL, '\\x']), (2, '\\x', '{}'), (3, NULL, NULL), (4, 'abc', ARRAY['xyz'::bytea])`);
    for (const t of [table, `${table}_hex`, `${table}_escape`, 'sync_control']) await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${t}` });
    await startSync(client, readTemporalConfig(env), table, { once: true, chunkRows: 100 }, () => {});
    const cfg = worker.config;
    const acts = createActivities({ pg: createPgPool(cfg.postgres, 1), pgSource: cfg.postgres, copyStrategy: cfg.copyStrategy, clickhouse: ch, secrets: secretsOf(cfg) });
    const { plan } = (await new MockActivityEnvironment().run(acts.planVerify, { table })) as { plan: TablePlan };
    // Two copies of the destination, filled with the copy's own text under each bytea_output.
    for (const form of ['hex', 'escape']) {
      await ch.client.command({ query: `CREATE TABLE ${database}.${table}_${form} AS ${database}.${table}` });
      const c = await pool.connect();
      try {
        await c.query(`SET bytea_output = '${form}'`);
        const parts: Buffer[] = [];
        for await (const part of c.query(copyTo(copyStatement(plan, { afterId: null, toId: '4', rows: 0 })))) parts.push(part as Buffer);
        await insertTsv(ch, { ...plan, destination: { database, table: `${table}_${form}` } }, Readable.from([Buffer.concat(parts)], { objectMode: false }), undefined);
      } finally {
        c.release();
      }
    }
    const verifyIn = (destination: string) =>
      client.workflow.execute(verifyTable, {
        workflowId: `verify-${database}-${destination}-${Date.now()}`,
        taskQueue: readTemporalConfig(env).taskQueue,
        args: [{ table, bucketRows: 1, settings: { destination } }],
      });
    expect(await verifyIn(`${table}_hex`)).toMatchObject({ equal: true, rows: 4 });
    const escaped = await verifyIn(`${table}_escape`);
    // Rows 1, 2 and 4 print differently in the two forms; row 3 is all NULL.
    expect(escaped.mismatches.map((m) => m.toId)).toEqual(['1', '2', '4']);
  });
});

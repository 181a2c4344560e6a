import type pg from 'pg';

// Random values of every type of the README's type table, as PostgreSQL
// input text, and the table holding one column of each: shared by the
// property tests (verify-property, change-values). Seeded PRNG: a failing
// test prints its seed.

export type Rng = () => number;
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
export const pick = <T,>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const pad = (n: number, w: number) => String(n).padStart(w, '0');
export const digits = (r: Rng, n: number) => Array.from({ length: n }, () => int(r, 0, 9)).join('');
export function bigInt(r: Rng, lo: bigint, hi: bigint): string {
  const span = hi - lo + 1n;
  const x = (BigInt(int(r, 0, 2 ** 31)) << 40n) ^ (BigInt(int(r, 0, 2 ** 20)) << 20n) ^ BigInt(int(r, 0, 2 ** 20));
  return String(lo + (x % span));
}

/** What the target holds: the old server's dates and times run 1970-2105 in whole seconds. */
export interface Ctx {
  wide: boolean;
  /**
   * 18.16 reads many float texts a unit in the last place off, denormals as
   * 0, and float arrays with NaN or infinities not at all (the types
   * package's items): there floats are ones it reads exactly.
   */
  oldServer: boolean;
}

/** Floats any parser reads exactly: small integers and halves, quarters, eighths. */
export const exactFloat = (r: Rng) => (r() < 0.2 ? pick(r, ['0', '-0', '1', '-1']) : String(int(r, -1_000_000, 1_000_000) / pick(r, [1, 2, 4, 8])));

export const STR_PARTS = ["'", "''", '"', '\\', '\\\\', '\\N', '\\t', '\t', '\n', '\r', '\u0001', '\u007f', 'é', '🎉', 'ж', 'مرحبا', ',', '[', ']', '{', '}', '(', 'NULL', 'null', ' ', 'a', 'Z', '0', '$', '`'];
export const str = (r: Rng, max = 8) => (r() < 0.1 ? '' : Array.from({ length: int(r, 1, max) }, () => pick(r, STR_PARTS)).join(''));
export const chars = (s: string, n: number) => Array.from(s).slice(0, n).join('');

export function floatText(r: Rng, edges: string[], exp: [number, number], precision: number): string {
  if (r() < 0.3) return pick(r, edges);
  const v = (r() - 0.5) * 10 ** int(r, exp[0], exp[1]);
  return r() < 0.3 ? String(Math.round(v * 100) / 100) : v.toPrecision(int(r, 1, precision));
}

export function dateText(r: Rng, c: Ctx): string {
  const [lo, hi] = c.wide ? [1900, 2299] : [1970, 2105];
  if (r() < 0.25) return pick(r, c.wide ? ['1900-01-01', '2299-12-31', '1970-01-01', '1969-12-31', '2000-02-29'] : ['1970-01-01', '1970-01-02', '2105-12-31', '2000-02-29']);
  return `${int(r, lo, hi)}-${pad(int(r, 1, 12), 2)}-${pad(int(r, 1, 28), 2)}`;
}

export function timeText(r: Rng): string {
  const frac = r() < 0.5 ? '' : `.${digits(r, int(r, 1, 6))}`;
  return `${pad(int(r, 0, 23), 2)}:${pad(int(r, 0, 59), 2)}:${pad(int(r, 0, 59), 2)}${frac}`;
}

export function timestampText(r: Rng, c: Ctx): string {
  if (r() < 0.2) return pick(r, c.wide ? ['1900-01-01 00:00:00', '2299-12-31 23:59:59.999999', '1970-01-01 00:00:00', '1969-12-31 23:59:59.5'] : ['1970-01-01 00:00:00', '1970-01-01 00:00:01', '2105-12-31 23:59:59.999999']);
  return `${dateText(r, c)} ${timeText(r)}`;
}

export function jsonText(r: Rng): string {
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

export const hexByte = (b: number) => b.toString(16).padStart(2, '0');
/** Empty, NUL, high bytes, and the bytes text escaping cares about (\\ ' " tab newline). */
export const byteaText = (r: Rng) => `\\x${Array.from({ length: int(r, 0, 10) }, () => hexByte(pick(r, [0, 255, 92, 39, 34, 9, 10, 127, 128, int(r, 0, 255)]))).join('')}`;
export const uuidText = (r: Rng) => (r() < 0.2 ? pick(r, ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF']) : Array.from({ length: 32 }, () => int(r, 0, 15).toString(16)).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'));

export interface Column {
  name: string;
  pg: string;
  /** A random value as PostgreSQL input text, or null. */
  gen?: (r: Rng, c: Ctx) => string | null;
  /** Two distinct values (input text) for the change: the row gets a, or b where it holds a. */
  change?: [string, string];
  /** An array column: its elements come from this column's generator. */
  of?: string;
}

export const F4_EDGES = ['NaN', 'Infinity', '-Infinity', '-0', '0', '1e-45', '1.17549435e-38', '3.4028235e38', '-3.4028235e38', '16777217', '0.1'];
export const F8_EDGES = ['NaN', 'Infinity', '-Infinity', '-0', '0', '5e-324', '2.2250738585072014e-308', '1.7976931348623157e308', '1e20', '1e21', '1e-7', '0.1', '9007199254740993'];
export const ODD_FLOATS = /^(NaN|-?Infinity|1e-45|5e-324|1\.17549435e-38|2\.2250738585072014e-308)$/;

export const SCALARS: Column[] = [
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

export const quoteEl = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** PostgreSQL array input text: every element double-quoted, so any text fits. */
export function arrayText(r: Rng, c: Ctx, gen: (r: Rng, c: Ctx) => string | null, odd: (v: string) => boolean): string {
  const n = r() < 0.15 ? 0 : int(r, 1, 4);
  const els: string[] = [];
  while (els.length < n) {
    const v = r() < 0.2 ? null : gen(r, c);
    if (v !== null && odd(v)) continue;
    els.push(v === null ? 'NULL' : quoteEl(v));
  }
  return `{${els.join(',')}}`;
}

export const ARRAY_OF = ['i2', 'i4', 'i8', 'n', 'nf', 'r', 'd', 'b', 't', 'vc', 'ch', 'js', 'jb', 'tm', 'iv', 'ip', 'by', 'md', 'u', 'dt', 'ts', 'tstz'];
export const ARRAYS: Column[] = ARRAY_OF.map((of) => {
  const el = SCALARS.find((s) => s.name === of)!;
  return { name: `a_${of}`, pg: `${el.pg}[]`, of, change: [`{${quoteEl(el.change![0])}}`, `{${quoteEl(el.change![0])},NULL}`] };
});
export const COLUMNS: Column[] = [...SCALARS, ...ARRAYS, { name: 'gen', pg: 'numeric GENERATED ALWAYS AS (n * 2) STORED' }];

export function valueOf(col: Column, r: Rng, c: Ctx): string | null {
  if (col.of) {
    const el = SCALARS.find((s) => s.name === col.of)!;
    const floats = col.of === 'r' || col.of === 'd';
    return r() < 0.1 ? null : arrayText(r, c, el.gen!, (v) => floats && c.oldServer && ODD_FLOATS.test(v));
  }
  return r() < 0.15 ? null : col.gen!(r, c);
}

/** Distinct ids with gaps, both int8 extremes included. */
export function idsFor(r: Rng, rows: number): string[] {
  const ids = new Set<string>(['-9223372036854775808', '9223372036854775807', '0']);
  while (ids.size < rows) ids.add(r() < 0.5 ? String(int(r, -1000, 100_000)) : bigInt(r, -(2n ** 62n), 2n ** 62n));
  return [...ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

export const DDL = (table: string, columns: readonly Column[] = COLUMNS) => `
  DROP TABLE IF EXISTS ${table};
  DO $$ BEGIN CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀', 'it''s'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
  DO $$ BEGIN CREATE DOMAIN posint AS integer CHECK (VALUE > 0); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
  CREATE TABLE ${table} (id bigint PRIMARY KEY, ${columns.map((c) => `${c.name} ${c.pg}`).join(', ')})`;

export async function fill(pool: pg.Pool, table: string, rows: Array<Array<string | null>>, columns: readonly Column[] = COLUMNS): Promise<void> {
  const names = columns.filter((c) => c.gen || c.of).map((c) => c.name);
  for (let i = 0; i < rows.length; i += 20) {
    const batch = rows.slice(i, i + 20);
    const params: Array<string | null> = [];
    const tuples = batch.map((row) => `(${row.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
    await pool.query(`INSERT INTO ${table} (id, ${names.join(', ')}) VALUES ${tuples.join(', ')}`, params);
  }
}

// Order-independent digests of rows, comparable across PostgreSQL and
// ClickHouse. Both sides are read as TabSeparated text: PostgreSQL's COPY of
// the same SELECT pg2ch copies with, ClickHouse's own output of what it
// stores. The two print some values differently (escaping, fractions of a
// second, trailing zeros), so each field is brought to one canonical form
// per ClickHouse column type before it is hashed.
import { createHash } from 'node:crypto';

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '0': '\0', '\\': '\\', "'": "'" };

/** The value of one TabSeparated field, as PostgreSQL's COPY or ClickHouse escapes it. */
export function unescapeField(field: string): string {
  if (!field.includes('\\')) return field;
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c !== '\\' || i === field.length - 1) {
      out += c;
      continue;
    }
    const next = field[++i]!;
    out += ESCAPES[next] ?? next;
  }
  return out;
}

const NULL_FIELD = '\\N';
/** Marks NULL apart from every string, the text "\N" included. */
const NULL_CANON = '\u0001NULL';

function stripZeros(n: string): string {
  return n.includes('.') ? n.replace(/0+$/, '').replace(/\.$/, '') : n;
}

/**
 * A float by its value: a Float32 as the float32 the text denotes (the old
 * server is sent the exact decimal value, and prints the shortest text back).
 * NaN is sent to old servers inside arrays as -nan (PostgreSQL's NaN has no sign).
 */
function canonicalFloat(field: string, float32: boolean): string {
  const v = field.toLowerCase();
  if (v === 'nan' || v === '-nan' || v === 'inf' || v === '-inf' || v === '+inf') return v.replace(/^-nan$/, 'nan').replace('+', '');
  return String(float32 ? Math.fround(Number(field)) : Number(field));
}

/** One field in the form both engines agree on, for a column of this ClickHouse type. */
export function canonicalField(chType: string, field: string): string {
  if (field === NULL_FIELD) return NULL_CANON;
  const type = chType.replace(/^Nullable\((.*)\)$/, '$1');
  if (type.startsWith('DateTime') || type.startsWith('Decimal')) {
    // Old servers print the epoch itself as zeros.
    if (field === '0000-00-00 00:00:00') return '1970-01-01 00:00:00';
    // 12:00:00.5 and 12:00:00.500000; 1.50 and 1.5
    return stripZeros(field);
  }
  if (type.startsWith('Float')) return canonicalFloat(field, type === 'Float32');
  // Old servers are sent float digits they read exactly, more than they print back.
  const floats = /^Array\((?:Nullable\()?Float(32|64)\)?\)$/.exec(type);
  if (floats) return field.replace(/[^[\],]+/g, (v) => (v === 'NULL' ? v : canonicalFloat(v, floats[1] === '32')));
  if (type === 'Bool') return field === 't' || field === 'true' || field === '1' ? 'true' : 'false';
  if (type === 'UUID') return field.toLowerCase();
  return unescapeField(field);
}

/** 64 bits of a row's MD5, over its canonical fields. */
export function rowHash(chTypes: string[], line: string): bigint {
  const fields = line.split('\t');
  if (fields.length !== chTypes.length) throw new Error(`a row has ${fields.length} fields where ${chTypes.length} columns were expected`);
  const canon = fields.map((f, i) => canonicalField(chTypes[i]!, f)).join('\u0000');
  return createHash('md5').update(canon, 'utf8').digest().readBigUInt64BE(0);
}

export interface RangeDigest {
  rows: number;
  /** Sum of row hashes modulo 2^64, as a decimal string: equal sets of rows give equal sums in any order. */
  checksum: string;
  minId: string | null;
  maxId: string | null;
}

const MASK = (1n << 64n) - 1n;

const rowsOf = (text: string) => text.split('\n').filter((line) => line !== '');
const idOf = (line: string, idIndex: number) => line.split('\t', idIndex + 1)[idIndex]!;

/** The digest of TabSeparated text whose column `idIndex` is the integer cursor. */
export function digestTsv(chTypes: string[], idIndex: number, text: string): RangeDigest {
  let rows = 0;
  let sum = 0n;
  let min: bigint | null = null;
  let max: bigint | null = null;
  for (const line of rowsOf(text)) {
    rows++;
    sum = (sum + rowHash(chTypes, line)) & MASK;
    const id = BigInt(idOf(line, idIndex));
    if (min === null || id < min) min = id;
    if (max === null || id > max) max = id;
  }
  return { rows, checksum: sum.toString(), minId: min?.toString() ?? null, maxId: max?.toString() ?? null };
}

export function sameDigest(a: RangeDigest, b: RangeDigest): boolean {
  return a.rows === b.rows && a.checksum === b.checksum && a.minId === b.minId && a.maxId === b.maxId;
}

/** Row hashes of TabSeparated text by id; an id several rows share (a non-unique cursor) has several. */
function hashesById(chTypes: string[], idIndex: number, text: string): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  for (const line of rowsOf(text)) {
    const id = idOf(line, idIndex);
    const rows = out.get(id) ?? [];
    rows.push(rowHash(chTypes, line));
    out.set(id, rows);
  }
  return out;
}

const sameRows = (a: bigint[], b: bigint[]) => {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((h, i) => h === y[i]);
};

/**
 * How the rows ClickHouse stores (`stored`) differ from PostgreSQL's
 * (`source`), by id. `replace`: ids stored other than exactly once as their
 * source row: a row cut short by an insert that died (the old server keeps a
 * cut last field, which is still valid text), or a row stored twice.
 * `missing`: source ids not stored at all. Ids only ClickHouse has are in
 * neither: rows deleted in PostgreSQL stay in an append-mode destination.
 * An id several source rows share is right only when its stored rows are
 * exactly those rows, each once; otherwise the id as a whole is replaced.
 */
export function diffStored(chTypes: string[], idIndex: number, source: string, stored: string): { replace: string[]; missing: string[] } {
  const want = hashesById(chTypes, idIndex, source);
  const got = hashesById(chTypes, idIndex, stored);
  const replace: string[] = [];
  const missing: string[] = [];
  for (const [id, rows] of want) {
    const copies = got.get(id);
    if (copies === undefined) missing.push(id);
    else if (!sameRows(rows, copies)) replace.push(id);
  }
  return { replace, missing };
}

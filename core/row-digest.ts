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
/** A field that cannot be read as its type (an array cut short) is compared as its text, apart from every value read. */
const UNREADABLE = '\u0000';

function stripZeros(n: string): string {
  return n.includes('.') ? n.replace(/0+$/, '').replace(/\.$/, '') : n;
}

/** The type a value has inside Nullable(...) and LowCardinality(...). */
function bareType(chType: string): string {
  let t = chType.trim();
  for (let m = /^(?:Nullable|LowCardinality)\((.*)\)$/.exec(t); m; m = /^(?:Nullable|LowCardinality)\((.*)\)$/.exec(t)) t = m[1]!.trim();
  return t;
}

/** One value (unescaped) in the form both engines agree on, for a value of this bare ClickHouse type. */
function canonicalValue(type: string, v: string): string {
  if (type.startsWith('DateTime')) {
    // Old servers print the epoch itself as zeros; a clamped timestamptz may carry UTC's offset.
    if (v === '0000-00-00 00:00:00') return '1970-01-01 00:00:00';
    // 12:00:00.5 and 12:00:00.500000
    return stripZeros(v.replace(/\+00(?::00)?$/, ''));
  }
  // 18.16 prints the day of the epoch as zeros too.
  if (type.startsWith('Date')) return v === '0000-00-00' ? '1970-01-01' : v;
  // 1.50 and 1.5
  if (type.startsWith('Decimal')) return stripZeros(v);
  if (type.startsWith('Float')) {
    const l = v.toLowerCase().replace(/^\+/, '');
    if (l === 'nan' || l === '-nan') return 'nan';
    if (l === 'inf' || l === 'infinity') return 'inf';
    if (l === '-inf' || l === '-infinity') return '-inf';
    // 1e+20 and 100000000000000000000; -0 and 0 are one value. Float32 is
    // printed by each engine in the fewest digits that read back as that
    // float (2.6227999e+09 and 2622800000), so it is compared as a float.
    const n = type.startsWith('Float32') ? Math.fround(Number(v)) : Number(v);
    return v.trim() === '' || Number.isNaN(n) ? `${UNREADABLE}${v}` : String(n);
  }
  if (type === 'Bool') return v === 't' || v === 'true' || v === '1' ? 'true' : 'false';
  if (type === 'UUID') return v.toLowerCase();
  return v;
}

/**
 * Reads ClickHouse array text from `at`, as ClickHouse reads it: quoted
 * elements take backslash escapes and a doubled quote ('it''s', which
 * PostgreSQL's rendering writes, and 'it\'s', which ClickHouse prints),
 * other elements run to the next comma or bracket. Elements in canonical
 * form, NULL as null; undefined where the text is not an array.
 */
function readArray(type: string, text: string, at: number): { values: Array<string | null>; end: number } | undefined {
  const elem = /^Array\((.*)\)$/.exec(type);
  if (!elem || text[at] !== '[') return undefined;
  const elemType = bareType(elem[1]!);
  const values: Array<string | null> = [];
  let i = at + 1;
  const skipSpace = () => {
    while (text[i] === ' ') i++;
  };
  skipSpace();
  if (text[i] === ']') return { values, end: i + 1 };
  for (;;) {
    skipSpace();
    if (text[i] === '[') {
      const inner = readArray(elemType, text, i);
      if (!inner) return undefined;
      values.push(JSON.stringify(inner.values));
      i = inner.end;
    } else if (text[i] === "'") {
      let v = '';
      for (i++; ; i++) {
        if (i >= text.length) return undefined;
        const c = text[i]!;
        if (c === '\\' && i + 1 < text.length) v += ESCAPES[text[++i]!] ?? text[i]!;
        else if (c === "'" && text[i + 1] === "'") v += text[++i]!;
        else if (c === "'") break;
        else v += c;
      }
      i++;
      values.push(canonicalValue(elemType, v));
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',' && text[i] !== ']') i++;
      const token = text.slice(start, i).trim();
      if (token === '') return undefined;
      values.push(token === 'NULL' ? null : canonicalValue(elemType, token));
    }
    skipSpace();
    if (text[i] === ',') i++;
    else if (text[i] === ']') return { values, end: i + 1 };
    else return undefined;
  }
}

/**
 * One field in the form both engines agree on, for a column of this
 * ClickHouse type; null for NULL. Arrays are compared element by element,
 * each element as a value of its type.
 */
export function canonicalField(chType: string, field: string): string | null {
  if (field === NULL_FIELD) return null;
  const type = bareType(chType);
  if (type.startsWith('Array(')) {
    // ClickHouse reads an array straight from the escaped field, and prints it the same way.
    const arr = readArray(type, field, 0);
    return arr && arr.end === field.length ? JSON.stringify(arr.values) : `${UNREADABLE}${field}`;
  }
  return canonicalValue(type, unescapeField(field));
}

/** 64 bits of a row's MD5, over its canonical fields. */
export function rowHash(chTypes: string[], line: string): bigint {
  const fields = line.split('\t');
  if (fields.length !== chTypes.length) throw new Error(`a row has ${fields.length} fields where ${chTypes.length} columns were expected`);
  // JSON keeps NULL, the text "\N" and any separator apart.
  const canon = JSON.stringify(fields.map((f, i) => canonicalField(chTypes[i]!, f)));
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

/** The same row hashes, in any order. */
export const sameRows = (a: bigint[], b: bigint[]) => {
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

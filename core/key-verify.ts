// Verify by row key: for tables whose rows change (updated mode, CDC) or
// whose cursor is a timestamp, the cursor says nothing about which rows
// ClickHouse should hold, so rows are matched by their key instead.
//
// Both sides are read whole, in any order, as the TabSeparated text the
// integer verify reads (core/row-digest.ts), and every row is put in a
// bucket by a hash of its key's canonical fields computed here, in Node, by
// the same code for both sides. So no SQL hash, collation or sort order of
// either engine has to agree with the other's: a composite text key sorts
// differently in PostgreSQL and ClickHouse, and that cannot matter. Buckets
// whose count or checksum differ are read again, keeping only their rows,
// and compared key by key.
import { createHash } from 'node:crypto';
import { chIdent, chString } from './quote';
import { canonicalField, rowHash, sameRows, unescapeField } from './row-digest';
import type { TablePlan } from './types';

/** Hash buckets of the first pass: about 250 rows each on a million-row table. */
export const KEY_BUCKETS = 4096;
/** Rows held at once in a second pass: differing buckets are compared in groups of about this many rows. */
export const GROUP_ROWS = 100_000;
/** Keys reported per kind of difference; the counts are always exact. */
export const MAX_REPORTED_KEYS = 20;

/**
 * How a table is compared by key. `key`: the row key's columns (all in
 * plan.columns). `final`: ClickHouse is read with FINAL (one row per key, the
 * latest version). `chFlags`: ClickHouse UInt8 columns whose 1 marks a row
 * absent (a soft-delete flag, CDC's deleted flag). `pgDeletedIndex`: the
 * column of plan.columns whose value 1 marks a row soft-deleted in
 * PostgreSQL, which then counts as absent there too.
 */
export interface KeyShape {
  key: string[];
  keyIndexes: number[];
  final: boolean;
  chFlags: string[];
  pgDeletedIndex?: number;
  /** Rows only ClickHouse has are deleted by --repair (the destination mirrors the source). */
  repairExtra: boolean;
}

/** Verify compares this plan by key rather than by integer ranges. */
export function verifiesByKey(plan: Pick<TablePlan, 'keyset' | 'mode' | 'deletedColumn'>): boolean {
  return plan.keyset !== undefined || plan.mode !== 'append' || plan.deletedColumn !== undefined;
}

export function keyShape(plan: Pick<TablePlan, 'key' | 'rowKey' | 'keyset' | 'cursor' | 'columns' | 'layout' | 'softDelete' | 'deletedColumn' | 'mode'>): KeyShape {
  // The ReplacingMergeTree's row key; a MergeTree of a timestamp cursor: (time, tiebreak), unique by the plan's checks.
  const key = plan.rowKey ?? (plan.keyset ? [plan.keyset.time, plan.keyset.tiebreak] : [plan.cursor]);
  const keyIndexes = key.map((name) => {
    const i = plan.columns.findIndex((c) => c.name === name);
    if (i < 0) throw new Error(`table ${plan.key}: key column ${JSON.stringify(name)} is not copied`);
    return i;
  });
  const flags = [plan.softDelete, plan.deletedColumn].filter((x): x is string => x !== undefined);
  const pgDeleted = plan.softDelete === undefined ? -1 : plan.columns.findIndex((c) => c.name === plan.softDelete);
  return {
    key,
    keyIndexes,
    final: plan.layout.engine.includes('Replacing'),
    // Flags are UInt8 (core/table-plan.ts); 1 is deleted.
    chFlags: flags,
    ...(pgDeleted >= 0 ? { pgDeletedIndex: pgDeleted } : {}),
    repairExtra: plan.mode !== 'append' || plan.deletedColumn !== undefined,
  };
}

/** One row of either side, parsed: its key (canonical, as JSON), its hash, its key fields as ClickHouse reads them. */
export interface KeyedRow {
  key: string;
  hash: bigint;
  fields: string[];
  /** PostgreSQL's own text of the key columns (key::text), where read. */
  pgFields?: string[];
  /** Soft-deleted in PostgreSQL: counted absent, but copied by a repair (so ClickHouse holds the flag too). */
  deleted: boolean;
}

/**
 * Parses one TabSeparated line of plan.columns' values. PostgreSQL's lines
 * carry the key columns' own text after them (for literals PostgreSQL
 * reads back exactly), then more fields, ignored here.
 */
export function keyedRow(types: string[], shape: KeyShape, line: string): KeyedRow {
  const all = line.split('\t');
  const fields = all.slice(0, types.length);
  if (fields.length !== types.length) throw new Error(`a row has ${all.length} fields where ${types.length} columns were expected`);
  const key = JSON.stringify(shape.keyIndexes.map((i) => canonicalField(types[i]!, fields[i]!)));
  const own = all.length >= types.length + shape.keyIndexes.length ? all.slice(types.length, types.length + shape.keyIndexes.length) : undefined;
  return {
    key,
    hash: rowHash(types, fields.join('\t')),
    fields: shape.keyIndexes.map((i) => unescapeField(fields[i]!)),
    ...(own ? { pgFields: own.map(unescapeField) } : {}),
    deleted: shape.pgDeletedIndex !== undefined && fields[shape.pgDeletedIndex] === '1',
  };
}

/** The bucket of a key: 32 bits of its MD5, the same on both sides because it is computed here. */
export function bucketOf(key: string, buckets: number): number {
  return createHash('md5').update(key, 'utf8').digest().readUInt32BE(0) % buckets;
}

const MASK = (1n << 64n) - 1n;

/** Count and order-independent checksum per bucket. */
export class BucketDigests {
  readonly rows: number[];
  readonly sums: bigint[];
  constructor(readonly buckets: number) {
    this.rows = new Array<number>(buckets).fill(0);
    this.sums = new Array<bigint>(buckets).fill(0n);
  }
  add(row: KeyedRow, b = bucketOf(row.key, this.buckets)): void {
    this.rows[b]!++;
    this.sums[b] = (this.sums[b]! + row.hash) & MASK;
  }
  total(): number {
    return this.rows.reduce((a, b) => a + b, 0);
  }
}

/** Buckets whose count or checksum differ. */
export function differingBuckets(a: BucketDigests, b: BucketDigests): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.buckets; i++) if (a.rows[i] !== b.rows[i] || a.sums[i] !== b.sums[i]) out.push(i);
  return out;
}

/** Differing buckets in groups of at most about `maxRows` rows on the larger side (a bigger bucket is a group alone). */
export function groupBuckets(buckets: number[], a: BucketDigests, b: BucketDigests, maxRows = GROUP_ROWS): number[][] {
  const groups: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  for (const i of buckets) {
    const n = Math.max(a.rows[i]!, b.rows[i]!);
    if (current.length > 0 && rows + n > maxRows) {
      groups.push(current);
      current = [];
      rows = 0;
    }
    current.push(i);
    rows += n;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export interface KeySide {
  hashes: bigint[];
  /** The key's fields in ClickHouse's form (unescaped), for ClickHouse literals. */
  fields: string[];
  /** PostgreSQL's own text of them, for PostgreSQL literals. */
  pgFields?: string[];
  deleted?: boolean;
}

export interface KeyDiff {
  /** PostgreSQL has the row, ClickHouse does not (or holds it flagged deleted). */
  missing: string[];
  /** ClickHouse has the row, PostgreSQL does not (deleted there, or soft-deleted). */
  extra: string[];
  /** Both have the key with different values. */
  stale: string[];
}

export function collect(into: Map<string, KeySide>, row: KeyedRow): void {
  const side = into.get(row.key);
  if (side) side.hashes.push(row.hash);
  else into.set(row.key, { hashes: [row.hash], fields: row.fields, ...(row.pgFields ? { pgFields: row.pgFields } : {}), ...(row.deleted ? { deleted: true } : {}) });
}

/** Key by key: `pg` holds PostgreSQL's live rows only, `ch` ClickHouse's present rows. */
export function diffKeys(pg: Map<string, KeySide>, ch: Map<string, KeySide>): KeyDiff {
  const out: KeyDiff = { missing: [], extra: [], stale: [] };
  for (const [key, p] of pg) {
    const c = ch.get(key);
    if (!c) out.missing.push(key);
    else if (!sameRows(p.hashes, c.hashes)) out.stale.push(key);
  }
  for (const key of ch.keys()) if (!pg.has(key)) out.extra.push(key);
  return out;
}

/** A key for people: 7, or (eu, 42) for a composite one. */
export function showKey(key: string): string {
  const parts = (JSON.parse(key) as Array<string | null>).map((v) => (v === null ? 'NULL' : v));
  return parts.length === 1 ? parts[0]! : `(${parts.join(', ')})`;
}

/** Totals and the first keys of each kind, over several groups. */
export interface KeyReport {
  missing: number;
  extra: number;
  stale: number;
  samples: { missing: string[]; extra: string[]; stale: string[] };
}

export const emptyReport = (): KeyReport => ({ missing: 0, extra: 0, stale: 0, samples: { missing: [], extra: [], stale: [] } });

export function addToReport(r: KeyReport, d: KeyDiff): void {
  for (const kind of ['missing', 'extra', 'stale'] as const) {
    r[kind] += d[kind].length;
    const room = MAX_REPORTED_KEYS - r.samples[kind].length;
    if (room > 0) r.samples[kind].push(...d[kind].slice(0, room).map(showKey));
  }
}

const INTEGER = /^U?Int(8|16|32|64|128|256)$/;

/** A ClickHouse literal of a key value of this type (keys are never Nullable). */
export function chKeyLiteral(chType: string, value: string): string {
  const quoted = chString(value);
  const t = chType.replace(/^LowCardinality\((.*)\)$/, '$1');
  if (INTEGER.test(t) && /^-?\d+$/.test(value)) return value;
  if (t === 'String') return quoted;
  return `CAST(${quoted} AS ${t})`;
}

/** A ClickHouse predicate matching these keys (fields per key, in key order). */
export function chKeysWhere(key: string[], chTypes: string[], keys: string[][]): string {
  const ident = chIdent;
  if (key.length === 1) return `${ident(key[0]!)} IN (${keys.map((k) => chKeyLiteral(chTypes[0]!, k[0]!)).join(', ')})`;
  // OR of ANDs: tuple IN of cast values is not read alike by every server version.
  return keys.map((k) => `(${key.map((c, i) => `${ident(c)} = ${chKeyLiteral(chTypes[i]!, k[i]!)}`).join(' AND ')})`).join(' OR ');
}

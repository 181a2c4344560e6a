import { describe, expect, it } from 'vitest';
import {
  addToReport,
  BucketDigests,
  bucketOf,
  chKeyLiteral,
  chKeysWhere,
  collect,
  differingBuckets,
  diffKeys,
  emptyReport,
  groupBuckets,
  keyedRow,
  keyShape,
  MAX_REPORTED_KEYS,
  showKey,
  verifiesByKey,
  type KeySide,
} from '../../core/key-verify';
import type { ColumnPlan, TablePlan } from '../../core/types';

const col = (name: string, chType: string, pgType = 'text'): ColumnPlan => ({ name, chType, pgType, select: name, pullSafe: true });
const plan = (over: Partial<TablePlan>): Pick<TablePlan, 'key' | 'rowKey' | 'keyset' | 'cursor' | 'columns' | 'layout' | 'softDelete' | 'deletedColumn' | 'mode'> => ({
  key: 't',
  cursor: 'updated_at',
  mode: 'updated',
  rowKey: ['id'],
  columns: [col('id', 'Int64', 'bigint'), col('v', 'String'), col('updated_at', 'DateTime'), col('deleted', 'UInt8', 'boolean')],
  layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], version: 'updated_at' },
  ...over,
});

describe('keyShape', () => {
  it('updated mode: the row key, FINAL, the soft-delete flag on both sides, extras deleted by a repair', () => {
    const s = keyShape(plan({ softDelete: 'deleted' }));
    expect(s).toEqual({ key: ['id'], keyIndexes: [0], final: true, chFlags: ['deleted'], pgDeletedIndex: 3, repairExtra: true });
  });

  it('a MergeTree append table of a timestamp cursor is keyed by (time, tiebreak), read without FINAL, extras kept', () => {
    const keyset = { time: 'updated_at', timeType: 'timestamptz' as const, tiebreak: 'id', tiebreakType: 'bigint' };
    const s = keyShape(plan({ mode: 'append', rowKey: undefined, keyset, layout: { engine: 'MergeTree', orderBy: ['updated_at', 'id'] } }));
    expect(s).toMatchObject({ key: ['updated_at', 'id'], keyIndexes: [2, 0], final: false, chFlags: [], repairExtra: false });
  });

  it('a CDC table names its ClickHouse-only deleted flag: absent in ClickHouse, nothing to read in PostgreSQL', () => {
    const s = keyShape(plan({ deletedColumn: '_deleted' }));
    expect(s.chFlags).toEqual(['_deleted']);
    expect(s.pgDeletedIndex).toBeUndefined();
    expect(verifiesByKey({ mode: 'append', deletedColumn: '_deleted' })).toBe(true);
  });

  it('only an integer cursor in append mode keeps the range verify', () => {
    expect(verifiesByKey({ mode: 'append' })).toBe(false);
    expect(verifiesByKey({ mode: 'updated' })).toBe(true);
  });

  it('a key column that is not copied is an error naming it', () => {
    expect(() => keyShape(plan({ rowKey: ['nope'] }))).toThrow(/key column "nope" is not copied/);
  });
});

describe('keyedRow', () => {
  const types = ['Int64', 'String', 'DateTime', 'UInt8'];
  const shape = keyShape(plan({ softDelete: 'deleted' }));

  it('both sides give one key and hash for one row, whatever each prints extra (trailing PostgreSQL fields ignored)', () => {
    const ch = keyedRow(types, shape, '7\ta\\tb\t2024-01-01 00:00:00\t0');
    const pg = keyedRow(types, shape, '7\ta\\tb\t2024-01-01 00:00:00.000000\t0\t7\t0');
    expect(pg.key).toBe(ch.key);
    expect(pg.hash).toBe(ch.hash);
    expect(pg.pgFields).toEqual(['7']);
    expect(ch.pgFields).toBeUndefined();
    expect(ch.deleted).toBe(false);
  });

  it('a changed value changes the hash, not the key; the flag marks a soft delete', () => {
    const a = keyedRow(types, shape, '7\ta\t2024-01-01 00:00:00\t0');
    const b = keyedRow(types, shape, '7\tb\t2024-01-01 00:00:00\t1');
    expect(b.key).toBe(a.key);
    expect(b.hash).not.toBe(a.hash);
    expect(b.deleted).toBe(true);
  });

  it('a row with too few fields is an error, never a silent key', () => {
    expect(() => keyedRow(types, shape, '7\ta')).toThrow(/2 fields where 4 columns/);
  });
});

describe('buckets', () => {
  it('a key has one bucket, in range', () => {
    for (const k of ['["1"]', '["é","x"]', '["a\\tb"]']) {
      expect(bucketOf(k, 16)).toBe(bucketOf(k, 16));
      expect(bucketOf(k, 16)).toBeGreaterThanOrEqual(0);
      expect(bucketOf(k, 16)).toBeLessThan(16);
    }
  });

  it('equal rows in any order give equal digests; one changed row makes one bucket differ', () => {
    const types = ['Int64', 'String'];
    const shape = keyShape(plan({ columns: [col('id', 'Int64'), col('v', 'String')] }));
    const lines = Array.from({ length: 200 }, (_, i) => `${i}\tv${i}`);
    const a = new BucketDigests(32);
    const b = new BucketDigests(32);
    for (const l of lines) a.add(keyedRow(types, shape, l));
    for (const l of [...lines].reverse()) b.add(keyedRow(types, shape, l));
    expect(differingBuckets(a, b)).toEqual([]);
    const c = new BucketDigests(32);
    for (const l of lines) c.add(keyedRow(types, shape, l === '7\tv7' ? '7\tchanged' : l));
    expect(differingBuckets(a, c)).toEqual([bucketOf('["7"]', 32)]);
    expect(a.total()).toBe(200);
  });

  it('groups hold at most maxRows rows of the larger side, a bigger bucket alone', () => {
    const a = new BucketDigests(4);
    const b = new BucketDigests(4);
    a.rows.splice(0, 4, 5, 50, 5, 5);
    b.rows.splice(0, 4, 6, 0, 5, 5);
    expect(groupBuckets([0, 1, 2, 3], a, b, 12)).toEqual([[0], [1], [2, 3]]);
  });
});

describe('diffKeys and the report', () => {
  const side = (...hashes: bigint[]): KeySide => ({ hashes, fields: [] });

  it('missing, extra and stale by key', () => {
    const pg = new Map([['["1"]', side(1n)], ['["2"]', side(2n)], ['["3"]', side(3n)]]);
    const ch = new Map([['["1"]', side(1n)], ['["2"]', side(20n)], ['["4"]', side(4n)]]);
    expect(diffKeys(pg, ch)).toEqual({ missing: ['["3"]'], extra: ['["4"]'], stale: ['["2"]'] });
  });

  it('a key ClickHouse holds twice (no FINAL) is stale', () => {
    expect(diffKeys(new Map([['["1"]', side(1n)]]), new Map([['["1"]', side(1n, 1n)]])).stale).toEqual(['["1"]']);
  });

  it('collect keeps the first fields and every hash', () => {
    const into = new Map<string, KeySide>();
    collect(into, { key: 'k', hash: 1n, fields: ['a'], pgFields: ['a'], deleted: true });
    collect(into, { key: 'k', hash: 2n, fields: ['b'], deleted: false });
    expect(into.get('k')).toEqual({ hashes: [1n, 2n], fields: ['a'], pgFields: ['a'], deleted: true });
  });

  it('counts are exact, keys bounded', () => {
    const r = emptyReport();
    const many = Array.from({ length: MAX_REPORTED_KEYS + 5 }, (_, i) => JSON.stringify([String(i)]));
    addToReport(r, { missing: many, extra: [], stale: ['["eu","x"]'] });
    addToReport(r, { missing: ['["999"]'], extra: [], stale: [] });
    expect(r.missing).toBe(MAX_REPORTED_KEYS + 6);
    expect(r.samples.missing).toHaveLength(MAX_REPORTED_KEYS);
    expect(r.samples.stale).toEqual(['(eu, x)']);
  });

  it('showKey: a single key bare, a composite one in parentheses, NULL spelled', () => {
    expect(showKey('["7"]')).toBe('7');
    expect(showKey('["a",null]')).toBe('(a, NULL)');
  });
});

describe('ClickHouse key predicates', () => {
  it('integers bare, strings quoted, other types cast from their text', () => {
    expect(chKeyLiteral('Int64', '-7')).toBe('-7');
    expect(chKeyLiteral('String', "it's\\")).toBe("'it\\'s\\\\'");
    expect(chKeyLiteral('LowCardinality(String)', 'a')).toBe("'a'");
    expect(chKeyLiteral('DateTime', '2000-01-01 00:00:00')).toBe("CAST('2000-01-01 00:00:00' AS DateTime)");
    expect(chKeyLiteral('UUID', 'x')).toBe("CAST('x' AS UUID)");
  });

  it('one column: IN; several: an OR of ANDs', () => {
    expect(chKeysWhere(['id'], ['Int64'], [['1'], ['2']])).toBe('`id` IN (1, 2)');
    expect(chKeysWhere(['r', 'c'], ['String', 'Int32'], [['eu', '1'], ['é', '2']])).toBe("(`r` = 'eu' AND `c` = 1) OR (`r` = 'é' AND `c` = 2)");
  });
});

import { describe, expect, it } from 'vitest';
import { canonicalField, diffStored, digestTsv, sameDigest, unescapeField } from '../../core/row-digest';

describe('unescapeField', () => {
  it('reads both engines\' escapes', () => {
    expect(unescapeField('a\\tb\\nc\\\\d')).toBe('a\tb\nc\\d');
    expect(unescapeField("it\\'s")).toBe("it's"); // ClickHouse escapes quotes, PostgreSQL does not
    expect(unescapeField('\\b\\f\\r\\v\\0')).toBe('\b\f\r\v\0');
    expect(unescapeField('plain')).toBe('plain');
  });
});

describe('canonicalField', () => {
  it('makes fractions of a second and trailing decimal zeros agree', () => {
    expect(canonicalField("DateTime64(6, 'UTC')", '2026-01-01 00:00:00')).toBe(canonicalField("DateTime64(6, 'UTC')", '2026-01-01 00:00:00.000000'));
    expect(canonicalField("DateTime64(6, 'UTC')", '2026-01-01 00:00:00.5')).toBe(canonicalField("DateTime64(6, 'UTC')", '2026-01-01 00:00:00.500000'));
    expect(canonicalField("DateTime64(6, 'UTC')", '2026-01-01 00:00:00.5')).not.toBe(canonicalField("DateTime64(6, 'UTC')", '2026-01-01 00:00:00.05'));
    expect(canonicalField("DateTime('UTC')", '0000-00-00 00:00:00')).toBe('1970-01-01 00:00:00');
    expect(canonicalField('Decimal(10, 2)', '1.50')).toBe('1.5');
    expect(canonicalField('Decimal(10, 2)', '10')).toBe('10');
  });
  it('tells NULL from the text \\N and from the empty string', () => {
    expect(canonicalField('Nullable(String)', '\\N')).not.toBe(canonicalField('Nullable(String)', '\\\\N'));
    expect(canonicalField('Nullable(String)', '\\N')).not.toBe(canonicalField('Nullable(String)', ''));
  });
  it('compares floats by value', () => {
    expect(canonicalField('Float64', '1e+20')).toBe(canonicalField('Float64', '100000000000000000000'));
    expect(canonicalField('Float64', 'NaN')).toBe('nan');
    expect(canonicalField('Float64', '+inf')).toBe('inf');
  });
  it('compares float array elements by value: the old server is sent more digits than it prints, and NaN as -nan', () => {
    const t = 'Array(Nullable(Float64))';
    expect(canonicalField(t, '[0.1000000000000000056,-nan,NULL,inf,0.4940656458412465442e-323]')).toBe(canonicalField(t, '[0.1,nan,NULL,inf,5e-324]'));
    expect(canonicalField(t, '[0.1,2]')).not.toBe(canonicalField(t, '[0.1,3]'));
    expect(canonicalField('Array(Nullable(Float32))', '[1.5]')).toBe(canonicalField('Array(Nullable(Float32))', '[1.500000000000000000]'));
    // A float32's exact decimal value and its shortest text are the same float32.
    expect(canonicalField('Float32', '477162289242615161290752')).toBe(canonicalField('Float32', '4.771623e+23'));
    expect(canonicalField('Array(Nullable(Float32))', '[0.1000000014901161194]')).toBe(canonicalField('Array(Nullable(Float32))', '[0.1]'));
    expect(canonicalField('Float32', '0.1')).not.toBe(canonicalField('Float32', '0.2'));
  });
});

describe('digestTsv', () => {
  const types = ['Int64', 'String'];
  it('is independent of row order and counts rows, min and max', () => {
    const a = digestTsv(types, 0, '1\tx\n2\ty\n3\tz\n');
    const b = digestTsv(types, 0, '3\tz\n1\tx\n2\ty\n');
    expect(sameDigest(a, b)).toBe(true);
    expect(a).toMatchObject({ rows: 3, minId: '1', maxId: '3' });
  });
  it('changes with any value, a missing row or a duplicate', () => {
    const base = digestTsv(types, 0, '1\tx\n2\ty\n');
    expect(sameDigest(base, digestTsv(types, 0, '1\tx\n2\tY\n'))).toBe(false);
    expect(sameDigest(base, digestTsv(types, 0, '1\tx\n'))).toBe(false);
    expect(sameDigest(base, digestTsv(types, 0, '1\tx\n2\ty\n2\ty\n'))).toBe(false);
  });
  it('keeps int8 ids exact', () => {
    expect(digestTsv(types, 0, '9223372036854775807\ta\n-9223372036854775808\tb\n')).toMatchObject({
      minId: '-9223372036854775808',
      maxId: '9223372036854775807',
    });
  });
  it('refuses a row with the wrong number of fields', () => {
    expect(() => digestTsv(types, 0, '1\tx\ty\n')).toThrow(/3 fields where 2 columns/);
  });
});

describe('diffStored', () => {
  const types = ['String', 'Int64', 'DateTime64(6)'];
  const source = 'a\t1\t2024-01-01 00:00:00.5\nb\t2\t2024-01-01 00:00:01\nc\t3\t2024-01-01 00:00:02\n';
  it('reports nothing when every stored row is its source row once, printed as ClickHouse prints it', () => {
    const stored = 'c\t3\t2024-01-01 00:00:02.000000\na\t1\t2024-01-01 00:00:00.500000\nb\t2\t2024-01-01 00:00:01\n';
    expect(diffStored(types, 1, source, stored)).toEqual({ replace: [], missing: [] });
  });
  it('reports a row cut short in its last field', () => {
    expect(diffStored(types, 1, 'x\t7\t{"k": "long value"}\n', 'x\t7\t{"k": "lo\n').replace).toEqual(['7']);
    expect(diffStored(types, 1, source, 'a\t1\t2024-01-01 00:00:00.5\nb\t2\t2024-01-01 00:00:00\n').replace).toEqual(['2']);
  });
  it('reports a row stored twice, even when both copies are right', () => {
    expect(diffStored(types, 1, source, 'b\t2\t2024-01-01 00:00:01\nb\t2\t2024-01-01 00:00:01\n').replace).toEqual(['2']);
  });
  it('an id several rows share (a non-unique cursor): right when every one of its rows is stored once, else replaced whole', () => {
    const shared = 'a\t1\t2024-01-01 00:00:00\nb\t1\t2024-01-01 00:00:01\nc\t2\t2024-01-01 00:00:02\n';
    expect(diffStored(types, 1, shared, 'b\t1\t2024-01-01 00:00:01\nc\t2\t2024-01-01 00:00:02\na\t1\t2024-01-01 00:00:00\n')).toEqual({ replace: [], missing: [] });
    // One of the two rows of id 1 is missing, or stored twice instead of the other.
    expect(diffStored(types, 1, shared, 'b\t1\t2024-01-01 00:00:01\nc\t2\t2024-01-01 00:00:02\n')).toEqual({ replace: ['1'], missing: [] });
    expect(diffStored(types, 1, shared, 'b\t1\t2024-01-01 00:00:01\nb\t1\t2024-01-01 00:00:01\n')).toEqual({ replace: ['1'], missing: ['2'] });
  });
  it('reports the rows ClickHouse lacks as missing, and leaves alone rows only ClickHouse has', () => {
    expect(diffStored(types, 1, source, 'z\t9\t2024-01-01 00:00:09\nb\t2\t2024-01-01 00:00:01\n')).toEqual({ replace: [], missing: ['1', '3'] });
    expect(diffStored(types, 1, source, '')).toEqual({ replace: [], missing: ['1', '2', '3'] });
  });
});

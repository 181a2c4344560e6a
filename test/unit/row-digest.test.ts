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

describe('canonicalField: what verify got wrong', () => {
  const same = (type: string, a: string, b: string) => expect(canonicalField(type, a)).toBe(canonicalField(type, b));
  const differ = (type: string, a: string, b: string) => expect(canonicalField(type, a)).not.toBe(canonicalField(type, b));
  it("reads the old server's 0000-00-00 as the day of the epoch", () => {
    same('Date', '0000-00-00', '1970-01-01');
    same('Nullable(Date)', '0000-00-00', '1970-01-01');
    differ('Date', '0000-00-00', '1970-01-02');
  });
  it("reads a timestamp carrying UTC's offset (a clamped timestamptz) as that time", () => {
    same("DateTime64(6, 'UTC')", '2299-12-31 23:59:59.999999+00', '2299-12-31 23:59:59.999999');
    differ("DateTime64(6, 'UTC')", '2299-12-31 23:59:59.999999+05', '2299-12-31 23:59:59.999999');
  });
  it('reads array elements as ClickHouse does: a doubled quote and an escaped one are one quote', () => {
    const t = 'Array(Nullable(String))';
    // PostgreSQL's rendering doubles quotes, ClickHouse prints them escaped; COPY and ClickHouse both escape \ and tab.
    same(t, String.raw`['it''s','a\\b','tab\tx',NULL]`, String.raw`['it\'s','a\\b','tab\tx',NULL]`);
    differ(t, String.raw`['it''s']`, String.raw`['it''''s']`);
    // A bytea element that lost its backslash is a difference.
    differ(t, String.raw`['\\x01']`, String.raw`['x01']`);
    differ(t, '[NULL]', "['NULL']");
    differ(t, '[]', "['']");
    differ(t, "['a,b']", "['a','b']");
    same(t, "['a', 'b']", "['a','b']");
  });
  it('compares array elements as values of their type', () => {
    same('Array(Nullable(Decimal(12, 4)))', '[1.2000,NULL,10]', '[1.2,NULL,10]');
    differ('Array(Nullable(Decimal(12, 4)))', '[1.2]', '[1.21]');
    differ('Array(Nullable(Decimal(12, 4)))', '[10]', '[1]');
    same('Array(Nullable(Float64))', '[1e+20,-0,nan,-inf]', '[100000000000000000000,0,nan,-inf]');
    differ('Array(Nullable(Float64))', '[0.1]', '[0.10000000000000002]');
    // Float32: the fewest digits that read back as the float, chosen differently.
    same('Nullable(Float32)', '2.6227999e+09', '2622800000');
    same('Array(Nullable(Float32))', '[3.4028235e+38,-3.4399208e+07]', '[3.4028235e38,-34399210]');
    differ('Float32', '1.1754944e-38', '1.1754945e-38');
    same("Array(Nullable(DateTime64(6, 'UTC')))", "['2020-01-01 00:00:00.5','2020-01-01 00:00:00']", "['2020-01-01 00:00:00.500000','2020-01-01 00:00:00.000000']");
    same('Array(Nullable(Date))', "['0000-00-00']", "['1970-01-01']");
    same('Array(Nullable(UUID))', "['AB000000-0000-0000-0000-000000000000']", "['ab000000-0000-0000-0000-000000000000']");
    differ('Array(Nullable(Bool))', '[true,false]', '[false,true]');
    same('Array(Array(Nullable(Decimal(5, 2))))', '[[1.50],[]]', '[[1.5],[]]');
    differ('Array(Array(Nullable(Decimal(5, 2))))', '[[1.5],[]]', '[[],[1.5]]');
  });
  it('keeps an array cut short apart from every whole one, without failing', () => {
    differ('Array(Nullable(String))', "['abc", "['abc']");
    differ('Array(Nullable(String))', '[1,', '[1]');
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
  it('keeps NULL apart from text that looks like its marker, and fields apart', () => {
    expect(sameDigest(digestTsv(types, 0, '1\t\\N\n'), digestTsv(types, 0, '1\t\u0001NULL\n'))).toBe(false);
    const three = ['Int64', 'String', 'String'];
    expect(sameDigest(digestTsv(three, 0, '1\ta\u0000\tb\n'), digestTsv(three, 0, '1\ta\t\u0000b\n'))).toBe(false);
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

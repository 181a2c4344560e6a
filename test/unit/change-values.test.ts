import { describe, expect, it } from 'vitest';
import { arrayElements, escapeCopyText, oldReaderDigits, renderChangeRow, renderChangeValue, renderValue } from '../../core/change-values';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { UserError } from '../../core/errors';
import { mapColumn, type MapOptions, type PgColumn } from '../../core/type-map';
import type { ColumnPlan } from '../../core/types';

// The pure half of the CDC renderer. That it equals the COPY path's SQL for
// every type is shown on real PostgreSQL by test/integration/change-values.test.ts;
// these pin the parts that need no server.

const OLD = capabilitiesFor('18.16.1');
const NEW = { ...capabilitiesFor('26.7.2.1'), arraysReadEscaped: true };

function col(typname: string, type = typname, notNull = false, extra: Partial<PgColumn> = {}): PgColumn {
  return { name: 'c', type, typname, typtype: 'b', notNull, ...extra };
}
const arr = (elem: string, type: string, notNull = false): PgColumn => col(`_${elem}`, `${type}[]`, notNull, { elemTypname: elem, elemTyptype: 'b' });
const plan = (c: PgColumn, caps = NEW, opts: MapOptions = {}): ColumnPlan => mapColumn(c, caps, opts);
const render = (c: PgColumn, text: string | null, caps = NEW, opts: MapOptions = {}) => renderChangeValue(plan(c, caps, opts), text);

describe('escapeCopyText', () => {
  it('escapes what COPY escapes, and nothing else', () => {
    expect(escapeCopyText('a\\b\tc\nd\re\bf\fg\vh')).toBe('a\\\\b\\tc\\nd\\re\\bf\\fg\\vh');
    expect(escapeCopyText("plain 'text' \"q\" é 🎉 \u0001 \u007f")).toBe("plain 'text' \"q\" é 🎉 \u0001 \u007f");
    expect(escapeCopyText('')).toBe('');
  });
});

describe('arrayElements', () => {
  it('reads array_out text: quotes, escapes, NULL, bounds, delimiter', () => {
    expect(arrayElements('{}')).toEqual([]);
    expect(arrayElements('{1,NULL,3}')).toEqual(['1', null, '3']);
    expect(arrayElements('{"NULL",""," a ","x\\"y\\\\z","{,}"}')).toEqual(['NULL', '', ' a ', 'x"y\\z', '{,}']);
    expect(arrayElements('[0:2]={1,2,3}')).toEqual(['1', '2', '3']);
    expect(arrayElements('{(1,1),(0,0);NULL}', ';')).toEqual(['(1,1),(0,0)', null]);
  });
});

describe('renderChangeValue', () => {
  it('NULL is \\N, or the empty value of types ClickHouse cannot make Nullable', () => {
    expect(render(col('int4'), null)).toBe('\\N');
    expect(render(arr('int4', 'integer'), null)).toBe('[]');
    expect(render(arr('int4', 'integer', true), null)).toBe('\\N');
    expect(render(col('jsonb'), null, NEW, { json: 'json' })).toBe('{}');
  });

  it('text types are their output text, COPY-escaped', () => {
    expect(render(col('text'), 'a\tb\\c\n')).toBe('a\\tb\\\\c\\n');
    expect(render(col('bpchar', 'character(4)'), 'ab  ')).toBe('ab  ');
    expect(render(col('bytea'), '\\x00ff')).toBe('\\\\x00ff');
    expect(render(col('int8'), '-9223372036854775808')).toBe('-9223372036854775808');
  });

  it('bool as the text cast prints it, or as a digit on old servers', () => {
    expect([render(col('bool'), 't'), render(col('bool'), 'f')]).toEqual(['true', 'false']);
    expect([render(col('bool'), 't', OLD), render(col('bool'), 'f', OLD)]).toEqual(['1', '0']);
  });

  it("inet as its text cast: the netmask a host address's output leaves out", () => {
    expect(['10.0.0.1', '::1', '10.0.0.0/8', 'fe80::1/64'].map((v) => render(col('inet'), v))).toEqual(['10.0.0.1/32', '::1/128', '10.0.0.0/8', 'fe80::1/64']);
    expect(render(col('cidr'), '10.0.0.0/8')).toBe('10.0.0.0/8');
  });

  it('floats: ClickHouse spellings of NaN and infinities; shortest text on current servers, the old reader digits on old ones', () => {
    expect(['NaN', 'Infinity', '-Infinity', '0.1', '-0', '1e+300'].map((v) => render(col('float8'), v))).toEqual(['nan', 'inf', '-inf', '0.1', '-0', '1e+300']);
    expect(render(col('float8'), '0.1', OLD)).toBe('0.1000000000000000056');
    expect(render(col('float4'), '0.1', OLD)).toBe('0.1000000014901161194');
    expect(render(arr('float8', 'double precision'), '{NaN,NULL,Infinity}', OLD)).toBe('[-nan,NULL,inf]');
    expect(render(arr('float8', 'double precision'), '{NaN,NULL,Infinity}')).toBe('[nan,NULL,inf]');
  });

  it("old reader digits are to_char's 19, ties to even, laid out as the SQL lays them out", () => {
    // Values to_char printed on PostgreSQL 18 (ties: ...28125 stays 2812, ...84375 goes to 8438).
    expect(oldReaderDigits(1 + 2 ** -19)).toBe('1.000001907348632812');
    expect(oldReaderDigits(1 + 3 * 2 ** -19)).toBe('1.000005722045898438');
    expect(oldReaderDigits(0)).toBe('0.000000000000000000');
    expect(oldReaderDigits(-0)).toBe('-0.000000000000000000');
    expect(oldReaderDigits(1e300)).toBe(`1000000000000000053${'0'.repeat(282)}`);
    // 1e48 (exponent 48, 48 - 18 = 30): a power of ten the old reader holds as a double, so a leading 0 shifts it.
    expect(oldReaderDigits(1e48)).toBe(`01000000000000000044${'0'.repeat(30)}`);
    expect(oldReaderDigits(1e30)).toBe(`1000000000000000020${'0'.repeat(12)}`);
    expect(oldReaderDigits(1e-310)).toBe('0.9999999999999969449e-310');
    expect(oldReaderDigits(1.5e-300)).toBe(`0.${'0'.repeat(299)}1500000000000000120`);
  });

  it('timestamps: timestamptz without its +00, whole seconds on old servers', () => {
    expect(render(col('timestamptz', 'timestamp with time zone'), '2024-02-29 12:00:00.5+00')).toBe('2024-02-29 12:00:00.5');
    expect(render(col('timestamptz', 'timestamp with time zone'), '2024-02-29 12:00:00.5+00', OLD)).toBe('2024-02-29 12:00:00');
    expect(render(col('timestamp', 'timestamp without time zone'), '2024-02-29 12:00:00.123456', OLD)).toBe('2024-02-29 12:00:00');
    expect(() => render(col('timestamptz', 'timestamp with time zone'), '2024-02-29 12:00:00+01')).toThrow(/pin TimeZone=UTC/);
  });

  it('arrays: ClickHouse array text, quoted elements with quotes doubled, then COPY-escaped', () => {
    expect(render(arr('text', 'text'), '{"it\'s","a\\\\b",NULL,"x\\"y"}')).toBe("['it''s','a\\\\b',NULL,'x\"y']");
    expect(render(arr('text', 'text'), '{"a\tb"}')).toBe("['a\\tb']");
    expect(render(arr('bool', 'boolean'), '{t,f,NULL}')).toBe('[true,false,NULL]');
    expect(render(arr('int4', 'integer'), '[0:1]={1,2}')).toBe('[1,2]');
    expect(render(arr('timestamptz', 'timestamp with time zone'), '{"2000-01-01 00:00:00+00"}')).toBe("['2000-01-01 00:00:00']");
    // 18.16 reads arrays of quoted types as PostgreSQL's own array text.
    expect(render(arr('text', 'text'), '{a,"b c"}', OLD)).toBe('{a,"b c"}');
  });
});

describe('out-of-range values take the column policy', () => {
  const date = col('date');
  it('fail: the OutOfRange error the COPY path stops with', () => {
    const p = plan(date);
    let err: unknown;
    try {
      renderChangeValue(p, 'infinity');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).type).toBe('OutOfRange');
    expect((err as UserError).message).toBe('column "c" value infinity is outside what ClickHouse Date32 holds [1900-01-01, 2300-01-01); see "Out-of-range values" in the README');
  });

  it('clamp: the nearest value held, as the select prints it; NaN cannot be clamped', () => {
    expect(['infinity', '-infinity', '4713-01-01 BC', '10000-01-01', '1899-12-31'].map((v) => render(date, v, NEW, { outOfRange: 'clamp' }))).toEqual(['2299-12-31', '1900-01-01', '1900-01-01', '2299-12-31', '1900-01-01']);
    expect(render(col('timestamptz', 'timestamp with time zone'), 'infinity', NEW, { outOfRange: 'clamp' })).toBe('2299-12-31 23:59:59.999999');
    expect(render(col('timestamp', 'timestamp without time zone'), '1969-12-31 23:59:59.5', OLD, { outOfRange: 'clamp' })).toBe('1970-01-01 00:00:00');
    expect(render(date, '2000-01-01', NEW, { outOfRange: 'clamp' })).toBe('2000-01-01');
    expect(() => render(col('numeric', 'numeric(6,2)'), 'NaN', NEW, { outOfRange: 'clamp' })).toThrow(UserError);
  });

  it('null: NULL, or the empty array; key columns fail instead', () => {
    expect(render(date, 'infinity', NEW, { outOfRange: 'null' })).toBe('\\N');
    expect(render(arr('date', 'date'), '{2000-01-01,infinity}', NEW, { outOfRange: 'null' })).toBe('[]');
    expect(() => render(col('date', 'date', true), 'infinity', NEW, { outOfRange: 'null', key: true })).toThrow(/outside what ClickHouse Date32 holds/);
  });

  it('unbounded numeric into Decimal(76, 38): never rounded, never overflowed', () => {
    const n = col('numeric', 'numeric');
    const fits = (v: string) => {
      try {
        return render(n, v) === v;
      } catch (e) {
        if (e instanceof UserError) return false;
        throw e;
      }
    };
    expect(fits(`${'9'.repeat(38)}.${'9'.repeat(38)}`)).toBe(true);
    expect(fits(`-${'9'.repeat(38)}`)).toBe(true);
    expect(fits(`1${'0'.repeat(38)}`)).toBe(false);
    expect(fits(`0.${'0'.repeat(38)}1`)).toBe(false);
    expect(fits(`1.5${'0'.repeat(60)}`)).toBe(true);
    expect(['NaN', 'Infinity', '-Infinity'].map(fits)).toEqual([false, false, false]);
    // numeric: string keeps every digit.
    expect(render(n, `1${'0'.repeat(100)}.5`, NEW, { numeric: 'string' })).toBe(`1${'0'.repeat(100)}.5`);
  });

  it('arrays: more than one dimension is out of range; JSON type: objects only', () => {
    expect(() => render(arr('int4', 'integer'), '{{1,2},{3,4}}')).toThrow(/one-dimensional arrays/);
    expect(render(arr('int4', 'integer'), '{{1,2}}', NEW, { outOfRange: 'null' })).toBe('[]');
    expect(render(col('jsonb'), ' {"a": 1}', NEW, { json: 'json' })).toBe(' {"a": 1}');
    expect(() => render(col('jsonb'), '[1]', NEW, { json: 'json' })).toThrow(/JSON objects/);
  });
});

describe('renderChangeRow', () => {
  it('joins fields with tabs and ends the line', () => {
    expect(renderChangeRow([plan(col('int4')), plan(col('text'))], ['1', null])).toBe('1\t\\N\n');
  });

  it('a column without a rendering in its plan is refused, not guessed', () => {
    const bare: ColumnPlan = { name: 'x', pgType: 'int4', chType: 'Int32', select: '"x"', pullSafe: false };
    expect(() => renderChangeValue(bare, '1')).toThrow(/no CDC rendering/);
  });

  it('the rendering is plain data that survives a payload', () => {
    const p = plan(arr('timestamptz', 'timestamp with time zone'), NEW, { outOfRange: 'clamp' });
    expect(JSON.parse(JSON.stringify(p))).toStrictEqual(p);
    expect(renderValue(p.render!.value, '{NULL}')).toBe('[NULL]');
  });
});

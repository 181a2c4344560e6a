import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { RANGE_ERROR_MARK, UserError } from '../../core/errors';
import { isIntegerType, isTimestampType, mapColumn, type PgColumn } from '../../core/type-map';
import type { ColumnPlan } from '../../core/types';

// chType and select are what these tests pin; pullSafe and range have tests of their own.
const withoutPlan = ({ pullSafe: _p, range: _r, ...rest }: ColumnPlan) => rest;

const OLD = capabilitiesFor('18.16.1');
const NEW = capabilitiesFor('24.8.1');

function col(name: string, typname: string, type: string = typname, notNull = true, typtype = 'b'): PgColumn {
  return { name, type, typname, typtype, notNull };
}

const floatSelect = (c: string) =>
  `CASE WHEN ${c} = 'NaN' THEN 'nan' WHEN ${c} = 'Infinity' THEN 'inf' WHEN ${c} = '-Infinity' THEN '-inf' ELSE ${c}::text END`;

/**
 * The range guard mapColumn wraps around date and time columns: a value
 * outside [from, to) fails the cast of the message to int, and the message
 * starts with RANGE_ERROR_MARK. `q` is the quoted column, `label` the column
 * name as it appears in the message (already SQL-escaped), `chLabel` the
 * ClickHouse type as it appears in the message (already SQL-escaped).
 */
const guard = (q: string, label: string, pgType: string, from: string, to: string, chLabel: string, expr: string) =>
  `CASE WHEN ${q}::${pgType} < '${from}' OR ${q}::${pgType} >= '${to}' ` +
  `THEN ('pg2ch out of range: column ${label} value ' || ${q}::text || ' is outside what ClickHouse ${chLabel} holds [${from}, ${to}); see "Out-of-range values" in the README')::int::text ` +
  `ELSE (${expr})::text END`;

const OLD_DATE = guard('"c"', '"c"', 'date', '1970-01-01', '2149-06-07', 'Date', '"c"');
const NEW_DATE = guard('"c"', '"c"', 'date', '1900-01-01', '2300-01-01', 'Date32', '"c"');
const OLD_TS = guard(
  '"c"', '"c"', 'timestamp', '1970-01-01 00:00:00', '2106-02-07 06:28:16', "DateTime(''UTC'')", `date_trunc('second', "c")`,
);
const NEW_TS = guard('"c"', '"c"', 'timestamp', '1900-01-01', '2300-01-01', "DateTime64(6, ''UTC'')", '"c"');
const OLD_TSTZ = guard(
  '"c"', '"c"', 'timestamptz', '1970-01-01 00:00:00+00', '2106-02-07 06:28:16+00', "DateTime(''UTC'')",
  `date_trunc('second', ("c" AT TIME ZONE 'UTC'))`,
);
const NEW_TSTZ = guard('"c"', '"c"', 'timestamptz', '1900-01-01', '2300-01-01', "DateTime64(6, ''UTC'')", `("c" AT TIME ZONE 'UTC')`);

/** [description, column, old chType, old select, new chType, new select] for NOT NULL columns named "c". */
const CASES: Array<[string, PgColumn, string, string, string, string]> = [
  ['int2', col('c', 'int2', 'smallint'), 'Int16', '"c"', 'Int16', '"c"'],
  ['int4', col('c', 'int4', 'integer'), 'Int32', '"c"', 'Int32', '"c"'],
  ['int8', col('c', 'int8', 'bigint'), 'Int64', '"c"', 'Int64', '"c"'],
  ['float4', col('c', 'float4', 'real'), 'Float32', floatSelect('"c"'), 'Float32', floatSelect('"c"')],
  ['float8', col('c', 'float8', 'double precision'), 'Float64', floatSelect('"c"'), 'Float64', floatSelect('"c"')],
  ['numeric(12,2)', col('c', 'numeric', 'numeric(12,2)'), 'Decimal(12, 2)', '"c"', 'Decimal(12, 2)', '"c"'],
  ['numeric unbounded', col('c', 'numeric', 'numeric'), 'String', '"c"::text', 'String', '"c"::text'],
  ['bool', col('c', 'bool', 'boolean'), 'UInt8', '"c"::int', 'Bool', '"c"::text'],
  ['text', col('c', 'text'), 'String', '"c"::text', 'String', '"c"::text'],
  ['jsonb', col('c', 'jsonb'), 'String', '"c"::text', 'String', '"c"::text'],
  ['uuid', col('c', 'uuid'), 'UUID', '"c"', 'UUID', '"c"'],
  ['date', col('c', 'date'), 'Date', OLD_DATE, 'Date32', NEW_DATE],
  ['timestamp', col('c', 'timestamp', 'timestamp without time zone'), "DateTime('UTC')", OLD_TS, "DateTime64(6, 'UTC')", NEW_TS],
  ['timestamptz', col('c', 'timestamptz', 'timestamp with time zone'), "DateTime('UTC')", OLD_TSTZ, "DateTime64(6, 'UTC')", NEW_TSTZ],
  ['enum', col('c', 'mood', 'mood', true, 'e'), 'String', '"c"::text', 'String', '"c"::text'],
];

// Types the embedded engine's postgresql() reads exactly, and those with a range guard.
const PULL_SAFE = new Set(['int2', 'int4', 'int8', 'text', 'varchar', 'json', 'jsonb', 'timestamp', 'date']);
const RANGED = new Set(['date', 'timestamp', 'timestamptz']);

describe('mapColumn on ClickHouse 18.16.1', () => {
  it.each(CASES)('%s', (_what, c, oldType, oldSelect) => {
    const { pullSafe, range, ...rest } = mapColumn(c, OLD);
    expect(rest).toStrictEqual({ name: 'c', pgType: c.type, chType: oldType, select: oldSelect });
    expect(pullSafe).toBe(PULL_SAFE.has(c.typname));
    expect(range !== undefined).toBe(RANGED.has(c.typname));
  });
});

describe('mapColumn on ClickHouse 24.8.1', () => {
  it.each(CASES)('%s', (_what, c, _oldType, _oldSelect, newType, newSelect) => {
    const { pullSafe, range, ...rest } = mapColumn(c, NEW);
    expect(rest).toStrictEqual({ name: 'c', pgType: c.type, chType: newType, select: newSelect });
    expect(pullSafe).toBe(PULL_SAFE.has(c.typname));
    expect(range !== undefined).toBe(RANGED.has(c.typname));
  });
});

describe('range guards carry the bounds the SQL checks', () => {
  it('timestamp on a new server: 1900 to 2300', () => {
    expect(mapColumn(col('t', 'timestamp', 'timestamp without time zone'), NEW).range).toEqual({ from: '1900-01-01', to: '2300-01-01', pgType: 'timestamp' });
  });
  it('date on the old server: Date range', () => {
    expect(mapColumn(col('d', 'date', 'date'), OLD).range).toEqual({ from: '1970-01-01', to: '2149-06-07', pgType: 'date' });
  });
});

describe('mapColumn: nullability', () => {
  it.each(CASES)('nullable %s is wrapped in Nullable(...) on the new server', (_what, c, _o, _os, newType, newSelect) => {
    const plan = mapColumn({ ...c, notNull: false }, NEW);
    expect(plan.chType).toBe(`Nullable(${newType})`);
    expect(plan.select).toBe(newSelect);
  });

  it.each(CASES)('nullable %s is wrapped in Nullable(...) on the old server', (_what, c, oldType, oldSelect) => {
    const plan = mapColumn({ ...c, notNull: false }, OLD);
    expect(plan.chType).toBe(`Nullable(${oldType})`);
    expect(plan.select).toBe(oldSelect);
  });

  it('a nullable key column is never Nullable', () => {
    expect(withoutPlan(mapColumn(col('id', 'int8', 'bigint', false), NEW, true))).toStrictEqual({
      name: 'id',
      pgType: 'bigint',
      chType: 'Int64',
      select: '"id"',
    });
  });

  it('a NOT NULL key column stays plain', () => {
    expect(mapColumn(col('id', 'int4', 'integer', true), OLD, true).chType).toBe('Int32');
  });

  it('a nullable timestamp key column is never Nullable', () => {
    expect(mapColumn(col('created_at', 'timestamp', 'timestamp without time zone', false), NEW, true).chType).toBe(
      "DateTime64(6, 'UTC')",
    );
    expect(mapColumn(col('created_at', 'timestamp', 'timestamp without time zone', false), OLD, true).chType).toBe(
      "DateTime('UTC')",
    );
  });

  it('keyColumn defaults to false', () => {
    expect(mapColumn(col('v', 'int8', 'bigint', false), NEW).chType).toBe('Nullable(Int64)');
  });

  it('nullable numeric(12,2) is Nullable(Decimal(12, 2))', () => {
    expect(mapColumn(col('amount', 'numeric', 'numeric(12,2)', false), NEW).chType).toBe('Nullable(Decimal(12, 2))');
  });

  it('nullable bool on the old server is Nullable(UInt8)', () => {
    expect(withoutPlan(mapColumn(col('flag', 'bool', 'boolean', false), OLD))).toStrictEqual({
      name: 'flag',
      pgType: 'boolean',
      chType: 'Nullable(UInt8)',
      select: '"flag"::int',
    });
  });
});

describe('mapColumn: numeric precision', () => {
  it('tolerates a space after the comma', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(10, 4)'), NEW).chType).toBe('Decimal(10, 4)');
  });

  it('keeps the pgType exactly as given', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(10, 4)'), NEW).pgType).toBe('numeric(10, 4)');
  });

  it('numeric(76,10) is the widest Decimal', () => {
    expect(withoutPlan(mapColumn(col('n', 'numeric', 'numeric(76,10)'), NEW))).toStrictEqual({
      name: 'n',
      pgType: 'numeric(76,10)',
      chType: 'Decimal(76, 10)',
      select: '"n"',
    });
  });

  it('numeric(77,2) is too wide for Decimal and becomes String', () => {
    expect(withoutPlan(mapColumn(col('n', 'numeric', 'numeric(77,2)'), NEW))).toStrictEqual({
      name: 'n',
      pgType: 'numeric(77,2)',
      chType: 'String',
      select: '"n"::text',
    });
  });

  it('numeric(1000,0) becomes String', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(1000,0)'), NEW).chType).toBe('String');
  });

  it('numeric(5,0) is Decimal(5, 0)', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(5,0)'), OLD).chType).toBe('Decimal(5, 0)');
  });

  it('a negative scale (PostgreSQL 15+) becomes String', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(5,-2)'), NEW).chType).toBe('String');
  });
});

describe('mapColumn: other text-like types', () => {
  it.each([
    ['varchar', 'character varying(255)'],
    ['bpchar', 'character(3)'],
    ['name', 'name'],
    ['citext', 'citext'],
    ['json', 'json'],
    ['xml', 'xml'],
    ['time', 'time without time zone'],
    ['timetz', 'time with time zone'],
    ['interval', 'interval'],
    ['inet', 'inet'],
    ['cidr', 'cidr'],
    ['macaddr', 'macaddr'],
  ])('%s is String via ::text', (typname, type) => {
    expect(withoutPlan(mapColumn(col('v', typname, type), NEW))).toStrictEqual({ name: 'v', pgType: type, chType: 'String', select: '"v"::text' });
    expect(withoutPlan(mapColumn(col('v', typname, type, false), OLD))).toStrictEqual({
      name: 'v',
      pgType: type,
      chType: 'Nullable(String)',
      select: '"v"::text',
    });
  });

  it('a nullable enum is Nullable(String)', () => {
    expect(withoutPlan(mapColumn(col('mood', 'mood', 'mood', false, 'e'), OLD))).toStrictEqual({
      name: 'mood',
      pgType: 'mood',
      chType: 'Nullable(String)',
      select: '"mood"::text',
    });
  });

  it('a built-in typname wins over typtype', () => {
    expect(mapColumn(col('v', 'int4', 'integer', true, 'e'), NEW).chType).toBe('Int32');
  });
});

describe('mapColumn: unsupported types', () => {
  it('tsvector throws an UnsupportedType UserError naming the column', () => {
    const c = col('search_doc', 'tsvector');
    let caught: unknown;
    try {
      mapColumn(c, NEW);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UserError);
    const e = caught as UserError;
    expect(e.type).toBe('UnsupportedType');
    expect(e.name).toBe('UnsupportedType');
    expect(e.message).toBe(
      'column "search_doc" has type tsvector, which pg2ch cannot copy yet; exclude the column or change its type',
    );
  });

  it('throws the same on the old server', () => {
    expect(() => mapColumn(col('search_doc', 'tsvector'), OLD)).toThrowError(/^column "search_doc" has type tsvector, /);
  });

  it('throws even for a key column', () => {
    expect(() => mapColumn(col('doc', 'tsvector'), NEW, true)).toThrow(UserError);
  });

  it.each([
    ['_int4', 'integer[]', 'b'],
    ['bytea', 'bytea', 'b'],
    ['point', 'point', 'b'],
    ['money', 'money', 'b'],
    ['posint', 'posint', 'd'],
    ['complex', 'complex', 'c'],
    ['int4range', 'int4range', 'r'],
  ])('%s (%s, typtype %s) is unsupported', (typname, type, typtype) => {
    expect(() => mapColumn(col('x', typname, type, true, typtype), NEW)).toThrowError(
      new UserError(`column "x" has type ${type}, which pg2ch cannot copy yet; exclude the column or change its type`, 'UnsupportedType'),
    );
  });

  it('names a column with quotes in JSON form', () => {
    expect(() => mapColumn(col('we"ird', 'tsvector'), NEW)).toThrowError(
      'column "we\\"ird" has type tsvector, which pg2ch cannot copy yet; exclude the column or change its type',
    );
  });
});

describe('mapColumn: range guards on date and time columns', () => {
  it('guards a Date column on the old server to [1970-01-01, 2149-06-07)', () => {
    expect(withoutPlan(mapColumn(col('d', 'date'), OLD))).toStrictEqual({
      name: 'd',
      pgType: 'date',
      chType: 'Date',
      select:
        `CASE WHEN "d"::date < '1970-01-01' OR "d"::date >= '2149-06-07' THEN ` +
        `('pg2ch out of range: column "d" value ' || "d"::text || ' is outside what ClickHouse Date holds [1970-01-01, 2149-06-07); see "Out-of-range values" in the README')::int::text ` +
        `ELSE ("d")::text END`,
    });
  });

  it('guards a timestamptz column on the new server to [1900-01-01, 2300-01-01) and renders it in UTC', () => {
    expect(withoutPlan(mapColumn(col('ts', 'timestamptz', 'timestamp with time zone', false), NEW))).toStrictEqual({
      name: 'ts',
      pgType: 'timestamp with time zone',
      chType: "Nullable(DateTime64(6, 'UTC'))",
      select:
        `CASE WHEN "ts"::timestamptz < '1900-01-01' OR "ts"::timestamptz >= '2300-01-01' THEN ` +
        `('pg2ch out of range: column "ts" value ' || "ts"::text || ' is outside what ClickHouse DateTime64(6, ''UTC'') holds [1900-01-01, 2300-01-01); see "Out-of-range values" in the README')::int::text ` +
        `ELSE (("ts" AT TIME ZONE 'UTC'))::text END`,
    });
  });

  it('guards a timestamp column on the old server to the DateTime range and truncates to seconds', () => {
    expect(mapColumn(col('t', 'timestamp', 'timestamp without time zone'), OLD).select).toBe(
      `CASE WHEN "t"::timestamp < '1970-01-01 00:00:00' OR "t"::timestamp >= '2106-02-07 06:28:16' THEN ` +
        `('pg2ch out of range: column "t" value ' || "t"::text || ' is outside what ClickHouse DateTime(''UTC'') holds [1970-01-01 00:00:00, 2106-02-07 06:28:16); see "Out-of-range values" in the README')::int::text ` +
        `ELSE (date_trunc('second', "t"))::text END`,
    );
  });

  it('names the non-Nullable ClickHouse type in the message of a nullable column', () => {
    const select = mapColumn(col('d', 'date', 'date', false), NEW).select;
    expect(select).toContain("' is outside what ClickHouse Date32 holds [1900-01-01, 2300-01-01)");
    expect(select).not.toContain('Nullable');
  });

  it('keeps the guard on a key column', () => {
    expect(mapColumn(col('created_at', 'timestamp', 'timestamp without time zone', false), NEW, true).select).toBe(NEW_TS.replaceAll('"c"', '"created_at"'));
  });

  it('starts the message with RANGE_ERROR_MARK', () => {
    expect(RANGE_ERROR_MARK).toBe('pg2ch out of range: ');
    expect(mapColumn(col('d', 'date'), NEW).select).toContain(`THEN ('${RANGE_ERROR_MARK}column "d" value ' || "d"::text`);
  });

  it.each(CASES.filter(([what]) => !['date', 'timestamp', 'timestamptz'].includes(what)))('%s has no guard', (_what, c) => {
    expect(mapColumn(c, NEW).select).not.toContain(RANGE_ERROR_MARK);
    expect(mapColumn(c, OLD).select).not.toContain(RANGE_ERROR_MARK);
  });
});

describe('mapColumn: quoting of the column name', () => {
  it('doubles a double quote in a plain select', () => {
    expect(withoutPlan(mapColumn(col('we"ird', 'int8', 'bigint'), NEW))).toStrictEqual({
      name: 'we"ird',
      pgType: 'bigint',
      chType: 'Int64',
      select: '"we""ird"',
    });
  });

  it('doubles a double quote inside a ::text cast', () => {
    expect(mapColumn(col('we"ird', 'text'), NEW).select).toBe('"we""ird"::text');
  });

  it('doubles a double quote everywhere in the float CASE', () => {
    expect(mapColumn(col('a"b', 'float8', 'double precision'), NEW).select).toBe(
      `CASE WHEN "a""b" = 'NaN' THEN 'nan' WHEN "a""b" = 'Infinity' THEN 'inf' WHEN "a""b" = '-Infinity' THEN '-inf' ELSE "a""b"::text END`,
    );
  });

  it('quotes inside the timestamptz expression and its range guard on both servers', () => {
    expect(mapColumn(col('x"y', 'timestamptz'), NEW).select).toBe(
      guard('"x""y"', '"x\\"y"', 'timestamptz', '1900-01-01', '2300-01-01', "DateTime64(6, ''UTC'')", `("x""y" AT TIME ZONE 'UTC')`),
    );
    expect(mapColumn(col('x"y', 'timestamptz'), OLD).select).toBe(
      guard(
        '"x""y"', '"x\\"y"', 'timestamptz', '1970-01-01 00:00:00+00', '2106-02-07 06:28:16+00', "DateTime(''UTC'')",
        `date_trunc('second', ("x""y" AT TIME ZONE 'UTC'))`,
      ),
    );
  });

  it('doubles a single quote of the column name inside the guard message', () => {
    expect(mapColumn(col("it's", 'date'), OLD).select).toBe(
      `CASE WHEN "it's"::date < '1970-01-01' OR "it's"::date >= '2149-06-07' ` +
        `THEN ('pg2ch out of range: column "it''s" value ' || "it's"::text || ' is outside what ClickHouse Date holds [1970-01-01, 2149-06-07); see "Out-of-range values" in the README')::int::text ` +
        `ELSE ("it's")::text END`,
    );
  });

  it('keeps single quotes, semicolons and unicode inside the identifier', () => {
    expect(mapColumn(col("it's; DROP", 'int4'), NEW).select).toBe(`"it's; DROP"`);
    expect(mapColumn(col('prix_€', 'bool'), OLD).select).toBe('"prix_€"::int');
  });

  it('keeps mixed case', () => {
    expect(mapColumn(col('CreatedAt', 'int8'), NEW).select).toBe('"CreatedAt"');
  });

  it('rejects a NUL byte in the name', () => {
    expect(() => mapColumn(col('a\0', 'int4'), NEW)).toThrow('identifiers and literals cannot contain NUL bytes');
  });
});

describe('isTimestampType', () => {
  it.each(['timestamp', 'timestamptz', 'date'])('%s is a timestamp type', (t) => {
    expect(isTimestampType(t)).toBe(true);
  });

  it.each(['time', 'timetz', 'interval', 'int8', 'text', 'Timestamp', ''])('%j is not', (t) => {
    expect(isTimestampType(t)).toBe(false);
  });
});

describe('isIntegerType', () => {
  it.each(['int2', 'int4', 'int8'])('%s is an integer type', (t) => {
    expect(isIntegerType(t)).toBe(true);
  });

  it.each(['numeric', 'float8', 'bigint', 'integer', 'oid', '_int4', ''])('%j is not', (t) => {
    expect(isIntegerType(t)).toBe(false);
  });
});

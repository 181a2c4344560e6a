import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { RANGE_ERROR_MARK, UserError } from '../../core/errors';
import { isIntegerType, isTimestampType, mapColumn, type PgColumn } from '../../core/type-map';
import type { ColumnPlan } from '../../core/types';

// chType and select are what these tests pin; pullSafe, range, guard and render have tests of their own.
const withoutPlan = ({ pullSafe: _p, range: _r, guard: _g, render: _c, ...rest }: ColumnPlan) => rest;
/** The CDC rendering is pinned by test/unit/change-values.test.ts. */
const noRender = ({ render: _c, ...rest }: ColumnPlan) => rest;

const OLD = capabilitiesFor('18.16.1');
const NEW = capabilitiesFor('24.8.1');
/** The first server with the JSON type. */
const JSON_SERVER = capabilitiesFor('25.3.1');

function col(name: string, typname: string, type: string = typname, notNull = true, typtype = 'b'): PgColumn {
  return { name, type, typname, typtype, notNull };
}

const floatSelect = (c: string) =>
  `CASE WHEN ${c} = 'NaN' THEN 'nan' WHEN ${c} = 'Infinity' THEN 'inf' WHEN ${c} = '-Infinity' THEN '-inf' ELSE ${c}::text END`;
/** The old server's floats: 19 significant digits from to_char, placed where its reader reads them exactly (see type-map.ts). */
const oldFloatSelect = (c: string, nan = 'nan') =>
  `CASE WHEN ${c} = 'NaN' THEN '${nan}' WHEN ${c} = 'Infinity' THEN 'inf' WHEN ${c} = '-Infinity' THEN '-inf' ELSE (SELECT CASE` +
  `\n      WHEN x >= 18 THEN sg || CASE WHEN x - 18 IN (-70, -50, -30, -10, 30, 50, 70, 90, 110, 130, 150, 170, 190, 210, 230, 250, 270, 290) THEN '0' ELSE '' END || dg || repeat('0', x - 18)` +
  `\n      WHEN x >= 0 THEN sg || left(dg, x + 1) || '.' || substr(dg, x + 2)` +
  `\n      WHEN x >= -306 THEN sg || '0.' || repeat('0', -x - 1) || CASE WHEN x = -306 OR x - 18 IN (-70, -50, -30, -10, 30, 50, 70, 90, 110, 130, 150, 170, 190, 210, 230, 250, 270, 290) THEN left(dg, 18) ELSE dg END` +
  `\n      ELSE sg || '0.' || dg || 'e' || (x + 1) END` +
  `\n    FROM (SELECT CASE WHEN left(s, 1) = '-' THEN '-' ELSE '' END AS sg, substr(s, 2, 1) || substr(s, 4, 18) AS dg, substr(s, 23)::int AS x` +
  `\n      FROM (SELECT to_char(${c}, '9.999999999999999999EEEE') AS s) AS f) AS g) END`;

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

/** The NaN guard of numeric(p,s): the same failing cast, around the plain column. */
const nanGuard = (q: string, label: string, chType: string) =>
  `CASE WHEN ${q} = 'NaN' ` +
  `THEN ('pg2ch out of range: column ${label} value ' || ${q}::text || ' is outside what ClickHouse ${chType} holds numbers, not NaN; see "Out-of-range values" in the README')::int::text ` +
  `ELSE (${q})::text END`;

/**
 * The guard of unbounded numeric as Decimal(76, 38). NaN and the infinities
 * are compared as text: 'Infinity'::numeric exists only from PostgreSQL 14.
 */
const WIDE_WHEN = (q: string) => `${q}::text IN ('NaN', 'Infinity', '-Infinity') OR abs(${q}) >= 1e38 OR ${q} <> round(${q}, 38)`;
const WIDE_HOLDS = 'finite numbers with at most 38 digits before and 38 after the point; set numeric: string to keep every digit';
const wideGuard = (q: string, label: string) =>
  `CASE WHEN ${WIDE_WHEN(q)} ` +
  `THEN ('pg2ch out of range: column ${label} value ' || ${q}::text || ' is outside what ClickHouse Decimal(76, 38) holds ${WIDE_HOLDS}; see "Out-of-range values" in the README')::int::text ` +
  `ELSE (${q})::text END`;

const OLD_DATE = guard('"c"', '"c"', 'date', '1970-01-01', '2106-01-01', 'Date', '"c"');
const NEW_DATE = guard('"c"', '"c"', 'date', '1900-01-01', '2300-01-01', 'Date32', '"c"');
const OLD_TS = guard(
  '"c"', '"c"', 'timestamp', '1970-01-01 00:00:00', '2106-01-01 00:00:00', "DateTime(''UTC'')", `date_trunc('second', "c")`,
);
const NEW_TS = guard('"c"', '"c"', 'timestamp', '1900-01-01', '2300-01-01', "DateTime64(6, ''UTC'')", '"c"');
const OLD_TSTZ = guard(
  '"c"', '"c"', 'timestamptz', '1970-01-01 00:00:00+00', '2106-01-01 00:00:00+00', "DateTime(''UTC'')",
  `date_trunc('second', ("c" AT TIME ZONE 'UTC'))`,
);
const NEW_TSTZ = guard('"c"', '"c"', 'timestamptz', '1900-01-01', '2300-01-01', "DateTime64(6, ''UTC'')", `("c" AT TIME ZONE 'UTC')`);

/** [description, column, old chType, old select, new chType, new select] for NOT NULL columns named "c". */
const CASES: Array<[string, PgColumn, string, string, string, string]> = [
  ['int2', col('c', 'int2', 'smallint'), 'Int16', '"c"', 'Int16', '"c"'],
  ['int4', col('c', 'int4', 'integer'), 'Int32', '"c"', 'Int32', '"c"'],
  ['int8', col('c', 'int8', 'bigint'), 'Int64', '"c"', 'Int64', '"c"'],
  ['float4', col('c', 'float4', 'real'), 'Float32', oldFloatSelect('"c"'), 'Float32', floatSelect('"c"')],
  ['float8', col('c', 'float8', 'double precision'), 'Float64', oldFloatSelect('"c"'), 'Float64', floatSelect('"c"')],
  ['numeric(12,2)', col('c', 'numeric', 'numeric(12,2)'), 'Decimal(12, 2)', nanGuard('"c"', '"c"', 'Decimal(12, 2)'), 'Decimal(12, 2)', nanGuard('"c"', '"c"', 'Decimal(12, 2)')],
  // No Decimal256 on the old server: exact text; the new one holds it as Decimal(76, 38) with a guard.
  ['numeric unbounded', col('c', 'numeric', 'numeric'), 'String', '"c"::text', 'Decimal(76, 38)', wideGuard('"c"', '"c"')],
  ['bool', col('c', 'bool', 'boolean'), 'UInt8', '"c"::int', 'Bool', '"c"::text'],
  ['text', col('c', 'text'), 'String', '"c"::text', 'String', '"c"::text'],
  // char(n) is selected raw: a ::text cast would strip its padding.
  ['bpchar', col('c', 'bpchar', 'character(4)'), 'String', '"c"', 'String', '"c"'],
  ['bytea', col('c', 'bytea'), 'String', '"c"::text', 'String', '"c"::text'],
  ['jsonb', col('c', 'jsonb'), 'String', '"c"::text', 'String', '"c"::text'],
  ['uuid', col('c', 'uuid'), 'UUID', '"c"', 'UUID', '"c"'],
  ['date', col('c', 'date'), 'Date', OLD_DATE, 'Date32', NEW_DATE],
  ['timestamp', col('c', 'timestamp', 'timestamp without time zone'), "DateTime('UTC')", OLD_TS, "DateTime64(6, 'UTC')", NEW_TS],
  ['timestamptz', col('c', 'timestamptz', 'timestamp with time zone'), "DateTime('UTC')", OLD_TSTZ, "DateTime64(6, 'UTC')", NEW_TSTZ],
  ['enum', col('c', 'mood', 'mood', true, 'e'), 'String', '"c"::text', 'String', '"c"::text'],
];

// Types the embedded engine's postgresql() reads exactly, those with a range, and those with a guard (by case name).
const PULL_SAFE = new Set(['int2', 'int4', 'int8', 'text', 'varchar', 'json', 'jsonb', 'timestamp', 'date']);
const RANGED = new Set(['date', 'timestamp', 'timestamptz']);
const GUARDED_OLD = new Set(['numeric(12,2)', 'date', 'timestamp', 'timestamptz']);
const GUARDED_NEW = new Set([...GUARDED_OLD, 'numeric unbounded']);

/** A guarded select is the CASE on exactly the guard's condition. */
function expectGuardMatchesSelect(plan: ColumnPlan, guarded: boolean): void {
  if (!guarded) {
    expect(plan.guard).toBeUndefined();
    expect(plan.select).not.toContain(RANGE_ERROR_MARK);
    return;
  }
  expect(plan.guard).toBeDefined();
  expect(plan.select.startsWith(`CASE WHEN ${plan.guard!.when} THEN ('${RANGE_ERROR_MARK}`)).toBe(true);
  expect(plan.select).toContain(` holds ${plan.guard!.holds}; see "Out-of-range values" in the README')::int::text ELSE (`);
}

describe('mapColumn on ClickHouse 18.16.1', () => {
  it.each(CASES)('%s', (what, c, oldType, oldSelect) => {
    const plan = mapColumn(c, OLD);
    const { pullSafe, range, guard: _g, render: _c, ...rest } = plan;
    expect(rest).toStrictEqual({ name: 'c', pgType: c.type, chType: oldType, select: oldSelect });
    expect(pullSafe).toBe(PULL_SAFE.has(c.typname));
    expect(range !== undefined).toBe(RANGED.has(c.typname));
    expectGuardMatchesSelect(plan, GUARDED_OLD.has(what));
  });
});

describe('mapColumn on ClickHouse 24.8.1', () => {
  it.each(CASES)('%s', (what, c, _oldType, _oldSelect, newType, newSelect) => {
    const plan = mapColumn(c, NEW);
    const { pullSafe, range, guard: _g, render: _c, ...rest } = plan;
    expect(rest).toStrictEqual({ name: 'c', pgType: c.type, chType: newType, select: newSelect });
    expect(pullSafe).toBe(PULL_SAFE.has(c.typname));
    expect(range !== undefined).toBe(RANGED.has(c.typname));
    expectGuardMatchesSelect(plan, GUARDED_NEW.has(what));
  });
});

describe('guards carry the PostgreSQL condition and what the type holds', () => {
  it('date on the new server', () => {
    expect(mapColumn(col('d', 'date'), NEW).guard).toStrictEqual({
      when: `"d"::date < '1900-01-01' OR "d"::date >= '2300-01-01'`,
      holds: '[1900-01-01, 2300-01-01)',
    });
  });

  it('timestamptz on the old server keeps the offset in the bounds', () => {
    expect(mapColumn(col('t', 'timestamptz', 'timestamp with time zone'), OLD).guard).toStrictEqual({
      when: `"t"::timestamptz < '1970-01-01 00:00:00+00' OR "t"::timestamptz >= '2106-01-01 00:00:00+00'`,
      holds: '[1970-01-01 00:00:00+00, 2106-01-01 00:00:00+00)',
    });
  });

  it('numeric(12,2): NaN only', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(12,2)'), OLD).guard).toStrictEqual({ when: `"n" = 'NaN'`, holds: 'numbers, not NaN' });
  });

  it('quotes the column inside the condition', () => {
    expect(mapColumn(col('a"b', 'numeric', 'numeric(12,2)'), NEW).guard!.when).toBe(`"a""b" = 'NaN'`);
  });
});

describe('range guards carry the bounds the SQL checks', () => {
  it('timestamp on a new server: 1900 to 2300', () => {
    expect(mapColumn(col('t', 'timestamp', 'timestamp without time zone'), NEW).range).toEqual({ from: '1900-01-01', to: '2300-01-01', pgType: 'timestamp' });
  });
  it('date on the old server: Date range', () => {
    expect(mapColumn(col('d', 'date', 'date'), OLD).range).toEqual({ from: '1970-01-01', to: '2106-01-01', pgType: 'date' });
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

  it('numeric(76,10) is the widest Decimal, guarded against NaN', () => {
    expect(withoutPlan(mapColumn(col('n', 'numeric', 'numeric(76,10)'), NEW))).toStrictEqual({
      name: 'n',
      pgType: 'numeric(76,10)',
      chType: 'Decimal(76, 10)',
      select: nanGuard('"n"', '"n"', 'Decimal(76, 10)'),
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

  it('a scale above the precision (PostgreSQL 15+) becomes String', () => {
    const plan = mapColumn(col('n', 'numeric', 'numeric(3,5)'), NEW);
    expect(plan.chType).toBe('String');
    expect(plan.guard).toBeUndefined();
  });

  it('numeric(39,2) is Decimal on servers with Decimal256 and String before', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(39,2)'), capabilitiesFor('22.1.1')).chType).toBe('Decimal(39, 2)');
    expect(withoutPlan(mapColumn(col('n', 'numeric', 'numeric(39,2)'), capabilitiesFor('21.12.1')))).toStrictEqual({
      name: 'n',
      pgType: 'numeric(39,2)',
      chType: 'String',
      select: '"n"::text',
    });
    expect(mapColumn(col('n', 'numeric', 'numeric(38,2)'), capabilitiesFor('21.12.1')).chType).toBe('Decimal(38, 2)');
  });

  it('18.16 (before 20.1) has Decimal up to precision 18 only: wider is text', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(18,2)'), OLD).chType).toBe('Decimal(18, 2)');
    expect(withoutPlan(mapColumn(col('n', 'numeric', 'numeric(19,2)'), OLD))).toStrictEqual({
      name: 'n',
      pgType: 'numeric(19,2)',
      chType: 'String',
      select: '"n"::text',
    });
    expect(mapColumn(col('n', 'numeric', 'numeric(38,2)'), capabilitiesFor('20.1.1')).chType).toBe('Decimal(38, 2)');
  });

  it('a String numeric has no guard', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(77,2)'), NEW).guard).toBeUndefined();
  });
});

describe('mapColumn: numeric NaN guard', () => {
  it('numeric(p,s) fails on NaN with the out-of-range message', () => {
    expect(noRender(mapColumn(col('amount', 'numeric', 'numeric(12,2)'), NEW))).toStrictEqual({
      name: 'amount',
      pgType: 'numeric(12,2)',
      chType: 'Decimal(12, 2)',
      select:
        `CASE WHEN "amount" = 'NaN' THEN ` +
        `('pg2ch out of range: column "amount" value ' || "amount"::text || ' is outside what ClickHouse Decimal(12, 2) holds numbers, not NaN; see "Out-of-range values" in the README')::int::text ` +
        `ELSE ("amount")::text END`,
      pullSafe: false,
      guard: { when: `"amount" = 'NaN'`, holds: 'numbers, not NaN' },
    });
  });

  it('a nullable numeric(p,s) keeps the guard and is Nullable', () => {
    const plan = mapColumn(col('amount', 'numeric', 'numeric(12,2)', false), NEW);
    expect(plan.chType).toBe('Nullable(Decimal(12, 2))');
    expect(plan.select).toBe(nanGuard('"amount"', '"amount"', 'Decimal(12, 2)'));
  });

  it('a domain over numeric(12,2) maps by its base type', () => {
    const plan = mapColumn({ ...col('price', 'numeric', 'money_amount'), baseType: 'numeric(12,2)' }, NEW);
    expect(plan.chType).toBe('Decimal(12, 2)');
    expect(plan.pgType).toBe('money_amount');
    expect(plan.guard).toStrictEqual({ when: `"price" = 'NaN'`, holds: 'numbers, not NaN' });
  });

  it('a domain is never read by the embedded engine, even over a type it reads exactly', () => {
    expect(mapColumn(col('qty', 'int8', 'bigint'), NEW).pullSafe).toBe(true);
    const plan = mapColumn({ ...col('qty', 'int8', 'quantity'), baseType: 'bigint' }, NEW);
    expect(plan.chType).toBe('Int64');
    expect(plan.pullSafe).toBe(false);
  });
});

describe('mapColumn: unbounded numeric', () => {
  it('is Decimal(76, 38) with a width and NaN guard on a server with Decimal256', () => {
    expect(noRender(mapColumn(col('n', 'numeric', 'numeric', false), NEW))).toStrictEqual({
      name: 'n',
      pgType: 'numeric',
      chType: 'Nullable(Decimal(76, 38))',
      select: wideGuard('"n"', '"n"'),
      pullSafe: false,
      guard: { when: WIDE_WHEN('"n"'), holds: WIDE_HOLDS },
    });
  });

  it('Decimal256 arrives with 22.1', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric'), capabilitiesFor('22.1.1')).chType).toBe('Decimal(76, 38)');
    expect(withoutPlan(mapColumn(col('n', 'numeric', 'numeric'), capabilitiesFor('21.12.1')))).toStrictEqual({
      name: 'n',
      pgType: 'numeric',
      chType: 'String',
      select: '"n"::text',
    });
  });

  it('is exact text with numeric: "string"', () => {
    const plan = mapColumn(col('n', 'numeric', 'numeric'), NEW, { numeric: 'string' });
    expect(withoutPlan(plan)).toStrictEqual({ name: 'n', pgType: 'numeric', chType: 'String', select: '"n"::text' });
    expect(plan.guard).toBeUndefined();
  });

  it('numeric: "decimal" is the default', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric'), NEW, { numeric: 'decimal' })).toStrictEqual(mapColumn(col('n', 'numeric', 'numeric'), NEW));
  });

  it('numeric: "string" leaves a constrained numeric a Decimal', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(12,2)'), NEW, { numeric: 'string' }).chType).toBe('Decimal(12, 2)');
  });

  it('is String on the old server whatever the setting', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric'), OLD, { numeric: 'decimal' }).chType).toBe('String');
  });
});

describe('mapColumn: other text-like types', () => {
  it.each([
    ['varchar', 'character varying(255)'],
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
    ['macaddr8', 'macaddr8'],
    ['bytea', 'bytea'],
    ['bit', 'bit(8)'],
    ['varbit', 'bit varying(8)'],
  ])('%s is String via ::text', (typname, type) => {
    expect(withoutPlan(mapColumn(col('v', typname, type), NEW))).toStrictEqual({ name: 'v', pgType: type, chType: 'String', select: '"v"::text' });
    expect(withoutPlan(mapColumn(col('v', typname, type, false), OLD))).toStrictEqual({
      name: 'v',
      pgType: type,
      chType: 'Nullable(String)',
      select: '"v"::text',
    });
  });

  it('bytea, interval and inet have no guard and are not read by the embedded engine', () => {
    for (const t of ['bytea', 'interval', 'inet']) {
      const plan = mapColumn(col('v', t), NEW);
      expect(plan.guard).toBeUndefined();
      expect(plan.pullSafe).toBe(false);
    }
  });

  it('char(n) is selected raw so its padding is kept', () => {
    expect(noRender(mapColumn(col('code', 'bpchar', 'character(3)'), NEW))).toStrictEqual({
      name: 'code',
      pgType: 'character(3)',
      chType: 'String',
      select: '"code"',
      pullSafe: false,
    });
    expect(withoutPlan(mapColumn(col('code', 'bpchar', 'character(3)', false), OLD))).toStrictEqual({
      name: 'code',
      pgType: 'character(3)',
      chType: 'Nullable(String)',
      select: '"code"',
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

describe('mapColumn: types without a mapping of their own', () => {
  const text = (c: PgColumn, caps = NEW) => mapColumn(c, caps);

  it.each([
    ['tsvector', 'tsvector', 'b'],
    ['point', 'point', 'b'],
    ['money', 'money', 'b'],
    ['hstore', 'hstore', 'b'],
    ['vector', 'vector(3)', 'b'],
    ['complex', 'complex', 'c'],
    ['int4range', 'int4range', 'r'],
    ['int4multirange', 'int4multirange', 'm'],
  ])('%s (%s, typtype %s) is String holding PostgreSQL\'s text, marked as such', (typname, type, typtype) => {
    for (const caps of [OLD, NEW]) {
      expect(noRender(text(col('x', typname, type, false, typtype), caps))).toStrictEqual({
        name: 'x', pgType: type, chType: 'Nullable(String)', select: '"x"::text', pullSafe: false, textByDefault: true,
      });
    }
  });

  it('a key column of such a type is String, never Nullable', () => {
    expect(mapColumn(col('doc', 'tsvector', 'tsvector', false), NEW, true).chType).toBe('String');
  });

  it('a domain over such a type is its text too', () => {
    expect(text({ ...col('p', 'money', 'price'), baseType: 'money' })).toMatchObject({ chType: 'String', select: '"p"::text', textByDefault: true });
  });

  it('arrays of such types: Array(Nullable(String)) of the elements\' text where the server reads quoted elements, else the array\'s text', () => {
    const c: PgColumn = { ...col('x', '_money', 'money[]', false), elemTypname: 'money', elemTyptype: 'b' };
    const escaped = { ...NEW, arraysReadEscaped: true };
    expect(mapColumn(c, escaped)).toMatchObject({ chType: 'Array(Nullable(String))', textByDefault: true });
    expect(mapColumn(c, escaped).select).toContain(`'''' || replace(("e"::text)::text, '''', '''''') || ''''`);
    expect(mapColumn(c, OLD)).toMatchObject({ chType: 'Nullable(String)', select: '"x"::text', textByDefault: true });
  });

  it('an array whose element type introspection did not resolve is its text', () => {
    expect(text(col('x', '_int4', 'integer[]'))).toMatchObject({ chType: 'String', select: '"x"::text', textByDefault: true });
  });

  it('mapped types are not marked', () => {
    expect(text(col('x', 'text')).textByDefault).toBeUndefined();
    expect(text(col('x', 'inet')).textByDefault).toBeUndefined();
  });

  it('a types override replaces the default, unmarked', () => {
    expect(noRender(mapColumn(col('x', 'tsvector'), NEW, { override: 'String' }))).toStrictEqual({ name: 'x', pgType: 'tsvector', chType: 'String', select: '"x"::text', pullSafe: false });
  });
});

describe('mapColumn: range guards on date and time columns', () => {
  it('guards a Date column on the old server to [1970-01-01, 2106-01-01)', () => {
    expect(withoutPlan(mapColumn(col('d', 'date'), OLD))).toStrictEqual({
      name: 'd',
      pgType: 'date',
      chType: 'Date',
      select:
        `CASE WHEN "d"::date < '1970-01-01' OR "d"::date >= '2106-01-01' THEN ` +
        `('pg2ch out of range: column "d" value ' || "d"::text || ' is outside what ClickHouse Date holds [1970-01-01, 2106-01-01); see "Out-of-range values" in the README')::int::text ` +
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
      `CASE WHEN "t"::timestamp < '1970-01-01 00:00:00' OR "t"::timestamp >= '2106-01-01 00:00:00' THEN ` +
        `('pg2ch out of range: column "t" value ' || "t"::text || ' is outside what ClickHouse DateTime(''UTC'') holds [1970-01-01 00:00:00, 2106-01-01 00:00:00); see "Out-of-range values" in the README')::int::text ` +
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

  it.each(CASES.filter(([what]) => !GUARDED_NEW.has(what)))('%s has no guard', (_what, c) => {
    expect(mapColumn(c, NEW).select).not.toContain(RANGE_ERROR_MARK);
    expect(mapColumn(c, OLD).select).not.toContain(RANGE_ERROR_MARK);
    expect(mapColumn(c, NEW).guard).toBeUndefined();
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
        '"x""y"', '"x\\"y"', 'timestamptz', '1970-01-01 00:00:00+00', '2106-01-01 00:00:00+00', "DateTime(''UTC'')",
        `date_trunc('second', ("x""y" AT TIME ZONE 'UTC'))`,
      ),
    );
  });

  it('doubles a single quote of the column name inside the guard message', () => {
    expect(mapColumn(col("it's", 'date'), OLD).select).toBe(
      `CASE WHEN "it's"::date < '1970-01-01' OR "it's"::date >= '2106-01-01' ` +
        `THEN ('pg2ch out of range: column "it''s" value ' || "it's"::text || ' is outside what ClickHouse Date holds [1970-01-01, 2106-01-01); see "Out-of-range values" in the README')::int::text ` +
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

function arrayCol(name: string, elem: string, type: string, notNull = true, elemTyptype = 'b'): PgColumn {
  return { name, type, typname: `_${elem}`, typtype: 'b', notNull, elemTypname: elem, elemTyptype };
}

/** The ClickHouse array text of column `q`, `el` rendering one non-NULL element "e". */
const arrayText = (q: string, el: string) =>
  `(SELECT '[' || coalesce(string_agg(CASE WHEN "e" IS NULL THEN 'NULL' ELSE ${el} END, ',' ORDER BY n), '') || ']' FROM unnest(${q}) WITH ORDINALITY AS u("e", n))`;

/**
 * An element in single quotes for ClickHouse's array text: the server reads
 * the array straight from the escaped field, so only quotes are doubled.
 */
const quotedElement = (text: string) => `'''' || replace(${text}, '''', '''''') || ''''`;

/** A server that reads arrays straight from the escaped field (found by the connect-time probe): quoted elements stay arrays. */
const ESCAPED = { ...capabilitiesFor('26.7.2.1'), arraysReadEscaped: true };
/** The same server as capabilitiesFor reports it before the probe. */
const UNPROBED = capabilitiesFor('26.7.2.1');

const arrayGuard = (q: string, label: string, chType: string, holds: string, when: string, expr: string) =>
  `CASE WHEN ${when} ` +
  `THEN ('pg2ch out of range: column ${label} value ' || ${q}::text || ' is outside what ClickHouse ${chType} holds ${holds}; see "Out-of-range values" in the README')::int::text ` +
  `ELSE (${expr})::text END`;

describe('mapColumn: arrays', () => {
  it('int4[] is Array(Nullable(Int32)) built by a subquery, one dimension only', () => {
    expect(noRender(mapColumn(arrayCol('a', 'int4', 'integer[]'), NEW))).toStrictEqual({
      name: 'a',
      pgType: 'integer[]',
      chType: 'Array(Nullable(Int32))',
      select: arrayGuard('"a"', '"a"', 'Array(Nullable(Int32))', 'one-dimensional arrays', 'array_ndims("a") > 1', arrayText('"a"', '"e"::text')),
      pullSafe: false,
      guard: { when: 'array_ndims("a") > 1', holds: 'one-dimensional arrays' },
    });
  });

  it('a nullable array is not Nullable (ClickHouse has no Nullable(Array)): NULL is sent as []', () => {
    const plan = mapColumn(arrayCol('a', 'int4', 'integer[]', false), NEW);
    expect(plan.chType).toBe('Array(Nullable(Int32))');
    expect(plan.select).toBe(
      `coalesce(${arrayGuard('"a"', '"a"', 'Array(Nullable(Int32))', 'one-dimensional arrays', 'array_ndims("a") > 1', arrayText('"a"', '"e"::text'))}, '[]')`,
    );
  });

  it('int8[] on the old server is the same shape', () => {
    expect(mapColumn(arrayCol('a', 'int8', 'bigint[]'), OLD).chType).toBe('Array(Nullable(Int64))');
  });

  it("text[] where arrays are read unescaped first (18.16, and any server before the probe): PostgreSQL's own array text as String", () => {
    for (const caps of [OLD, NEW, UNPROBED]) {
      expect(caps.arraysReadEscaped).toBe(false);
      expect(noRender(mapColumn(arrayCol('tags', 'text', 'text[]'), caps))).toStrictEqual({
        name: 'tags',
        pgType: 'text[]',
        chType: 'String',
        select: '"tags"::text',
        pullSafe: false,
      });
      // A plain String can be Nullable: NULL stays NULL, not [].
      const nullable = mapColumn(arrayCol('tags', 'text', 'text[]', false), caps);
      expect(nullable.chType).toBe('Nullable(String)');
      expect(nullable.select).toBe('"tags"::text');
    }
    // Arrays of numbers and bools need no quoting and stay arrays there.
    expect(mapColumn(arrayCol('a', 'int4', 'integer[]'), OLD).chType).toBe('Array(Nullable(Int32))');
    const flags = mapColumn(arrayCol('f', 'bool', 'boolean[]'), OLD);
    expect(flags.chType).toBe('Array(Nullable(UInt8))');
    expect(flags.select).toContain(`ELSE ("e"::int)::text END`);
    expect(mapColumn(arrayCol('f', 'bool', 'boolean[]'), NEW).chType).toBe('Array(Nullable(Bool))');
  });

  it('text[] on a server reading arrays straight from the escaped field: only quotes doubled', () => {
    const plan = mapColumn(arrayCol('tags', 'text', 'text[]'), ESCAPED);
    expect(plan.chType).toBe('Array(Nullable(String))');
    expect(plan.select).toBe(
      arrayGuard(
        '"tags"', '"tags"', 'Array(Nullable(String))', 'one-dimensional arrays', 'array_ndims("tags") > 1',
        arrayText('"tags"', `'''' || replace(("e"::text)::text, '''', '''''') || ''''`),
      ),
    );
    expect(plan.select).toContain(quotedElement('("e"::text)::text'));
    // Backslashes are left to COPY's own escaping.
    expect(plan.select).not.toContain('\\');
    // Still no Nullable(Array): a NULL array is sent as [].
    const nullable = mapColumn(arrayCol('tags', 'text', 'text[]', false), ESCAPED);
    expect(nullable.chType).toBe('Array(Nullable(String))');
    expect(nullable.select).toBe(`coalesce(${plan.select}, '[]')`);
    // Unquoted elements do not depend on it.
    expect(mapColumn(arrayCol('a', 'int4', 'integer[]'), ESCAPED)).toStrictEqual(mapColumn(arrayCol('a', 'int4', 'integer[]'), UNPROBED));
  });

  it('char(n)[] elements keep their padding: their own output, not ::text', () => {
    const plan = mapColumn(arrayCol('c', 'bpchar', 'character(3)[]'), ESCAPED);
    expect(plan.chType).toBe('Array(Nullable(String))');
    expect(plan.select).toContain(`ELSE ${quotedElement(`format('%s', "e")`)} END`);
  });

  it("float8[] on the old server: NaN as -nan (it reads a leading n as NULL) and the digits its reader reads exactly", () => {
    const plan = mapColumn(arrayCol('f', 'float8', 'double precision[]'), OLD);
    expect(plan.chType).toBe('Array(Nullable(Float64))');
    expect(plan.select).toContain(`ELSE (${oldFloatSelect('"e"', '-nan')})::text END`);
    expect(mapColumn(arrayCol('f', 'float8', 'double precision[]'), NEW).select).toContain(`ELSE (${floatSelect('"e"')})::text END`);
  });

  it('uuid[] elements are quoted, numeric(12,2)[] elements are not', () => {
    const u = mapColumn(arrayCol('u', 'uuid', 'uuid[]'), ESCAPED);
    expect(u.chType).toBe('Array(Nullable(UUID))');
    expect(u.select).toContain(`ELSE ${quotedElement('"e"::text')} END`);
    // Before the probe, a quoted element type makes the whole array text.
    expect(mapColumn(arrayCol('u', 'uuid', 'uuid[]'), NEW).chType).toBe('String');
    for (const caps of [NEW, ESCAPED]) {
      const n = mapColumn(arrayCol('n', 'numeric', 'numeric(12,2)[]'), caps);
      expect(n.chType).toBe('Array(Nullable(Decimal(12, 2)))');
      expect(n.select).toContain(`ELSE "e"::text END`);
      expect(n.select).not.toContain('replace(');
    }
  });

  it('numeric(12,2)[] carries the element NaN guard into the array guard', () => {
    expect(mapColumn(arrayCol('n', 'numeric', 'numeric(12,2)[]'), NEW).guard).toStrictEqual({
      when: `array_ndims("n") > 1 OR EXISTS (SELECT 1 FROM unnest("n") AS u("e") WHERE "e" = 'NaN')`,
      holds: 'one-dimensional arrays of values in numbers, not NaN',
    });
  });

  it('timestamptz[] checks the dimensions and every element against the range', () => {
    const plan = mapColumn(arrayCol('at', 'timestamptz', 'timestamp with time zone[]'), ESCAPED);
    expect(plan.chType).toBe("Array(Nullable(DateTime64(6, 'UTC')))");
    expect(plan.guard).toStrictEqual({
      when:
        `array_ndims("at") > 1 OR EXISTS (SELECT 1 FROM unnest("at") AS u("e") WHERE ` +
        `"e"::timestamptz < '1900-01-01' OR "e"::timestamptz >= '2300-01-01')`,
      holds: 'one-dimensional arrays of values in [1900-01-01, 2300-01-01)',
    });
    expect(plan.select.startsWith(`CASE WHEN ${plan.guard!.when} THEN ('${RANGE_ERROR_MARK}column "at" value `)).toBe(true);
    // Each element is rendered in UTC, as text, then quoted.
    expect(plan.select).toContain(`ELSE ${quotedElement(`(("e" AT TIME ZONE 'UTC'))::text`)} END`);
    // No range: the embedded engine's range check is for scalar dates.
    expect(plan.range).toBeUndefined();
    // Before the probe: PostgreSQL's array text, with no element guard.
    expect(noRender(mapColumn(arrayCol('at', 'timestamptz', 'timestamp with time zone[]'), NEW))).toStrictEqual({
      name: 'at',
      pgType: 'timestamp with time zone[]',
      chType: 'String',
      select: '"at"::text',
      pullSafe: false,
    });
  });

  it('an enum array is an array of quoted strings', () => {
    const plan = mapColumn(arrayCol('moods', 'mood', 'mood[]', true, 'e'), ESCAPED);
    expect(plan.chType).toBe('Array(Nullable(String))');
    expect(plan.select).toContain(quotedElement('("e"::text)::text'));
    expect(mapColumn(arrayCol('moods', 'mood', 'mood[]', false, 'e'), NEW)).toMatchObject({ chType: 'Nullable(String)', select: '"moods"::text' });
  });

  it('json[] elements stay text even with json: "json"', () => {
    const plan = mapColumn(arrayCol('docs', 'jsonb', 'jsonb[]'), ESCAPED, { json: 'json' });
    expect(ESCAPED.jsonType).toBe(true);
    expect(plan.chType).toBe('Array(Nullable(String))');
    expect(plan.select).toContain(quotedElement('("e"::text)::text'));
    expect(mapColumn(arrayCol('docs', 'jsonb', 'jsonb[]'), JSON_SERVER, { json: 'json' }).chType).toBe('String');
  });

  it('an array key column is still not Nullable and gets no coalesce when NOT NULL', () => {
    const plan = mapColumn(arrayCol('a', 'int4', 'integer[]'), NEW, true);
    expect(plan.chType).toBe('Array(Nullable(Int32))');
    expect(plan.select.startsWith('coalesce(')).toBe(false);
  });

  it('quotes the column name inside the subquery and the guard', () => {
    const plan = mapColumn(arrayCol('we"ird', 'int4', 'integer[]'), NEW);
    expect(plan.select).toContain('FROM unnest("we""ird") WITH ORDINALITY');
    expect(plan.guard!.when).toBe('array_ndims("we""ird") > 1');
  });
});

describe('mapColumn: outOfRange "null"', () => {
  it('a NOT NULL date becomes Nullable and out-of-range values NULL', () => {
    expect(noRender(mapColumn(col('d', 'date'), NEW, { outOfRange: 'null' }))).toStrictEqual({
      name: 'd',
      pgType: 'date',
      chType: 'Nullable(Date32)',
      select: `CASE WHEN "d"::date < '1900-01-01' OR "d"::date >= '2300-01-01' THEN NULL ELSE ("d")::text END`,
      // The embedded engine would not apply the policy.
      pullSafe: false,
      range: { from: '1900-01-01', to: '2300-01-01', pgType: 'date' },
      guard: { when: `"d"::date < '1900-01-01' OR "d"::date >= '2300-01-01'`, holds: '[1900-01-01, 2300-01-01)' },
    });
  });

  it('numeric(12,2): NaN becomes NULL', () => {
    const plan = mapColumn(col('n', 'numeric', 'numeric(12,2)'), NEW, { outOfRange: 'null' });
    expect(plan.chType).toBe('Nullable(Decimal(12, 2))');
    expect(plan.select).toBe(`CASE WHEN "n" = 'NaN' THEN NULL ELSE ("n")::text END`);
  });

  it('a column without a guard keeps its type and select', () => {
    expect(withoutPlan(mapColumn(col('v', 'int8', 'bigint'), NEW, { outOfRange: 'null' }))).toStrictEqual(withoutPlan(mapColumn(col('v', 'int8', 'bigint'), NEW)));
    expect(mapColumn(col('v', 'int8', 'bigint'), NEW, { outOfRange: 'null' }).guard).toBeUndefined();
  });

  it('a nullable column is wrapped once', () => {
    expect(mapColumn(col('d', 'date', 'date', false), OLD, { outOfRange: 'null' }).chType).toBe('Nullable(Date)');
  });

  it('a key column cannot hold NULL, so it fails instead', () => {
    const plan = mapColumn(col('created_at', 'timestamp', 'timestamp without time zone'), NEW, { key: true, outOfRange: 'null' });
    expect(plan.chType).toBe("DateTime64(6, 'UTC')");
    expect(plan.select).toBe(NEW_TS.replaceAll('"c"', '"created_at"'));
    expect(plan.pullSafe).toBe(true);
  });
});

describe('mapColumn: outOfRange "clamp"', () => {
  const clampDate = (from: string, last: string, to: string) =>
    `CASE WHEN "d"::date < '${from}' OR "d"::date >= '${to}' ` +
    `THEN (CASE WHEN "d"::date < '${from}' THEN '${from}'::date ELSE '${last}'::date END)::text ELSE ("d")::text END`;

  it('a date clamps to the first or last day held (new server)', () => {
    const plan = mapColumn(col('d', 'date'), NEW, { outOfRange: 'clamp' });
    expect(plan.chType).toBe('Date32');
    expect(plan.select).toBe(clampDate('1900-01-01', '2299-12-31', '2300-01-01'));
    expect(plan.pullSafe).toBe(false);
  });

  it('a date clamps to the Date range on the old server', () => {
    expect(mapColumn(col('d', 'date'), OLD, { outOfRange: 'clamp' }).select).toBe(clampDate('1970-01-01', '2105-12-31', '2106-01-01'));
  });

  it('Date32 before 22.8 clamps to 1925-01-01 .. 2283-11-11', () => {
    expect(mapColumn(col('d', 'date'), capabilitiesFor('22.3.1'), { outOfRange: 'clamp' }).select).toBe(
      clampDate('1925-01-01', '2283-11-11', '2283-11-12'),
    );
  });

  it('a timestamp on the old server clamps to the last whole second held', () => {
    expect(mapColumn(col('t', 'timestamp', 'timestamp without time zone'), OLD, { outOfRange: 'clamp' }).select).toBe(
      `CASE WHEN "t"::timestamp < '1970-01-01 00:00:00' OR "t"::timestamp >= '2106-01-01 00:00:00' ` +
        `THEN (date_trunc('second', CASE WHEN "t"::timestamp < '1970-01-01 00:00:00' THEN '1970-01-01 00:00:00'::timestamp ELSE '2105-12-31 23:59:59'::timestamp END))::text ` +
        `ELSE (date_trunc('second', "t"))::text END`,
    );
  });

  // The value held instead is rendered as every other value of the column: in UTC without an offset, which 18.16 does not parse.
  it('a timestamptz clamps to a value rendered in UTC wall-clock time (old and new servers)', () => {
    const bound = (v: string) => `CASE WHEN "t"::timestamptz < '${v}' THEN '${v}'::timestamptz ELSE`;
    expect(mapColumn(col('t', 'timestamptz', 'timestamp with time zone'), OLD, { outOfRange: 'clamp' }).select).toContain(
      `THEN (date_trunc('second', (${bound('1970-01-01 00:00:00+00')} '2105-12-31 23:59:59+00'::timestamptz END AT TIME ZONE 'UTC')))::text ELSE`,
    );
    expect(mapColumn(col('t', 'timestamptz', 'timestamp with time zone'), NEW, { outOfRange: 'clamp' }).select).toContain(
      `THEN ((${bound('1900-01-01')} '2299-12-31 23:59:59.999999+00'::timestamptz END AT TIME ZONE 'UTC'))::text ELSE`,
    );
  });

  it('a clamped column keeps its type and nullability', () => {
    expect(mapColumn(col('d', 'date', 'date', false), NEW, { outOfRange: 'clamp' }).chType).toBe('Nullable(Date32)');
  });

  it('NaN cannot be clamped: numeric(12,2) still fails', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(12,2)'), NEW, { outOfRange: 'clamp' }).select).toBe(nanGuard('"n"', '"n"', 'Decimal(12, 2)'));
  });
});

describe('mapColumn: type override', () => {
  it('replaces the ClickHouse type, Nullable-wrapped for a nullable column, with no guard', () => {
    expect(noRender(mapColumn(col('n', 'numeric', 'numeric', false), NEW, { override: 'Decimal(38, 10)' }))).toStrictEqual({
      name: 'n',
      pgType: 'numeric',
      chType: 'Nullable(Decimal(38, 10))',
      select: '"n"',
      pullSafe: false,
    });
  });

  it('a NOT NULL column keeps the override as written', () => {
    expect(mapColumn(col('n', 'numeric', 'numeric(12,2)'), NEW, { override: 'Float64' }).chType).toBe('Float64');
  });

  it('does not wrap a type already Nullable, nor an Array, nor a key column', () => {
    expect(mapColumn(col('v', 'text', 'text', false), NEW, { override: 'Nullable(String)' }).chType).toBe('Nullable(String)');
    expect(mapColumn(col('v', 'text', 'text', false), NEW, { override: 'LowCardinality(Nullable(String))' }).chType).toBe(
      'LowCardinality(Nullable(String))',
    );
    expect(mapColumn(arrayCol('a', 'int4', 'integer[]', false), NEW, { override: 'Array(Int64)' }).chType).toBe('Array(Int64)');
    expect(mapColumn(col('id', 'int8', 'bigint', false), NEW, { key: true, override: 'UInt64' }).chType).toBe('UInt64');
  });

  it('keeps the default rendering of a mapped type (timestamptz in UTC) but not its guard', () => {
    const plan = mapColumn(col('t', 'timestamptz', 'timestamp with time zone'), NEW, { override: "DateTime64(3, 'UTC')" });
    expect(plan.select).toBe(`("t" AT TIME ZONE 'UTC')`);
    expect(plan.select).not.toContain(RANGE_ERROR_MARK);
    expect(plan.guard).toBeUndefined();
    expect(plan.range).toBeUndefined();
  });

  it('makes an unsupported type copyable as text', () => {
    expect(noRender(mapColumn(col('doc', 'tsvector'), NEW, { override: 'String' }))).toStrictEqual({
      name: 'doc',
      pgType: 'tsvector',
      chType: 'String',
      select: '"doc"::text',
      pullSafe: false,
    });
  });

  it('is never pull-safe, even for a type the embedded engine reads exactly', () => {
    expect(mapColumn(col('v', 'int8', 'bigint'), NEW).pullSafe).toBe(true);
    expect(mapColumn(col('v', 'int8', 'bigint'), NEW, { override: 'UInt64' }).pullSafe).toBe(false);
  });

  it('wins over outOfRange', () => {
    const plan = mapColumn(col('d', 'date'), NEW, { override: 'Date', outOfRange: 'null' });
    expect(plan.chType).toBe('Date');
    expect(plan.select).toBe('"d"');
  });
});

describe('mapColumn: json option', () => {
  const JSON_WHEN = `jsonb_typeof("j"::jsonb) <> 'object'`;
  const JSON_HOLDS = 'JSON objects (not arrays or scalars); use json: "string"';
  const jsonSelect =
    `CASE WHEN ${JSON_WHEN} ` +
    `THEN ('pg2ch out of range: column "j" value ' || "j"::text || ' is outside what ClickHouse JSON holds ${JSON_HOLDS}; see "Out-of-range values" in the README')::int::text ` +
    `ELSE ("j"::text)::text END`;

  it('json: "json" on 25.3 is the JSON type, objects only', () => {
    const { pullSafe: _p, render: _c, ...rest } = mapColumn(col('j', 'jsonb'), JSON_SERVER, { json: 'json' });
    expect(rest).toStrictEqual({ name: 'j', pgType: 'jsonb', chType: 'JSON', select: jsonSelect, guard: { when: JSON_WHEN, holds: JSON_HOLDS } });
  });

  it('a nullable json column is not Nullable: NULL arrives as {}', () => {
    const plan = mapColumn(col('j', 'json', 'json', false), JSON_SERVER, { json: 'json' });
    expect(plan.chType).toBe('JSON');
    expect(plan.select).toBe(`coalesce(${jsonSelect}, '{}')`);
  });

  it('json: "string" (the default) is exact text on any server', () => {
    expect(withoutPlan(mapColumn(col('j', 'jsonb', 'jsonb', false), JSON_SERVER))).toStrictEqual({
      name: 'j',
      pgType: 'jsonb',
      chType: 'Nullable(String)',
      select: '"j"::text',
    });
    expect(mapColumn(col('j', 'jsonb'), JSON_SERVER, { json: 'string' }).chType).toBe('String');
  });

  it('json: "json" before 25.3 is a BadConfig error naming the server', () => {
    const run = () => mapColumn(col('j', 'jsonb'), NEW, { json: 'json' });
    expect(run).toThrowError(
      new UserError('column "j": json: "json" needs the ClickHouse JSON type (25.3 or newer), and this server is 24.8.1; use json: "string"', 'BadConfig'),
    );
    try {
      run();
    } catch (e) {
      expect((e as UserError).type).toBe('BadConfig');
    }
    expect(() => mapColumn(col('j', 'jsonb'), capabilitiesFor('25.2.1'), { json: 'json' })).toThrow(UserError);
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

import type { ClickHouseCapabilities } from './clickhouse-version';
import { RANGE_ERROR_MARK, UserError } from './errors';
import { pgIdent, pgString } from './quote';
import type { ColumnPlan, ColumnRender, ValueGuard, ValueRender } from './types';

/** A column as the PostgreSQL catalog describes it (domains resolved to their base type). */
export interface PgColumn {
  name: string;
  /** format_type(atttypid, atttypmod), e.g. `numeric(12,2)`, `timestamp without time zone`. */
  type: string;
  /** pg_type.typname of the (base) type, e.g. `int8`, `timestamptz`, `_int4`. */
  typname: string;
  /** pg_type.typtype: b base, e enum, ... */
  typtype: string;
  notNull: boolean;
  /** format_type of the base type when the column's type is a domain (`numeric(12,2)` for a money_amount domain). */
  baseType?: string;
  /** Arrays: typname and typtype of the element type. */
  elemTypname?: string;
  elemTyptype?: string;
}

/** What to do with a value the ClickHouse type cannot hold (see "Out-of-range values" in the README). */
export type OutOfRangePolicy = 'fail' | 'clamp' | 'null';

export interface MapOptions {
  /** ORDER BY / version column: never Nullable, since ClickHouse cannot sort by one. */
  key?: boolean;
  /** Unbounded numeric as Decimal(76, 38) (default, where the server has it) or exact text. */
  numeric?: 'decimal' | 'string';
  /** json/jsonb as exact text (default) or ClickHouse's JSON type. */
  json?: 'string' | 'json';
  outOfRange?: OutOfRangePolicy;
  /** A ClickHouse type from the config file, replacing the mapping. */
  override?: string;
}

/** Values a mapping cannot hold: `when(v)` is true for them. */
interface Guard {
  when: (v: string) => string;
  /** What the ClickHouse type holds, for the message. */
  holds: string;
  /** Clamp policy: the value to store instead, as a PostgreSQL expression; absent = cannot clamp (fails). */
  clamp?: (v: string) => string;
  /** The same check on a value's output text, for the CDC path (core/change-values.ts). */
  spec: ValueGuard;
}

interface Mapping {
  chType: string;
  /** Builds the SELECT expression from the quoted column name. */
  select?: (col: string) => string;
  /** What select does, done on the output text by the CDC path; absent: the text as it is (select absent or `::text` of the output). */
  render?: ValueRender;
  guard?: Guard;
  /** ClickHouse cannot wrap this type in Nullable (Array, JSON): NULL is sent as `nullAs`. */
  notNullable?: { nullAs: string };
  /** Array elements: the value needs single quotes inside ClickHouse's array text. */
  quoted?: boolean;
  /** Dates and timestamps: the range the guard checks. */
  range?: ColumnPlan['range'];
  /** No mapping of its own: PostgreSQL's text. */
  byDefault?: true;
}

const asText = (c: string) => `${c}::text`;

/**
 * Exponents whose power of ten the old float reader multiplies by as a
 * double, not a long double (1e30 written without its L in its table): up to
 * 1e-16 off, enough to move a result by one bit. A digit less avoids them.
 */
const SHORT_POWERS = '(-70, -50, -30, -10, 30, 50, 70, 90, 110, 130, 150, 170, 190, 210, 230, 250, 270, 290)';

/**
 * A finite float as decimal text the old servers' float reader (18.16's
 * readFloatTextFast) turns into the same bits: it parses the integer part as
 * a 64-bit integer, the first 19 digits after the point times a power of ten
 * in long double, and multiplies by 10^exponent as a separate, second
 * rounding. So the value is written without an exponent, with 19
 * significant digits (to_char's, correctly rounded): an integer part that is
 * exactly the double's, a fraction read with one rounding. Only below 1e-306
 * an exponent is unavoidable (its table ends at 1e-323): there a value can
 * arrive one bit off (measured: about 1 in 100 of those in [1e-308, 1e-306)).
 */
function oldServerFloatDigits(c: string): string {
  return `(SELECT CASE
      WHEN x >= 18 THEN sg || CASE WHEN x - 18 IN ${SHORT_POWERS} THEN '0' ELSE '' END || dg || repeat('0', x - 18)
      WHEN x >= 0 THEN sg || left(dg, x + 1) || '.' || substr(dg, x + 2)
      WHEN x >= -306 THEN sg || '0.' || repeat('0', -x - 1) || CASE WHEN x = -306 OR x - 18 IN ${SHORT_POWERS} THEN left(dg, 18) ELSE dg END
      ELSE sg || '0.' || dg || 'e' || (x + 1) END
    FROM (SELECT CASE WHEN left(s, 1) = '-' THEN '-' ELSE '' END AS sg, substr(s, 2, 1) || substr(s, 4, 18) AS dg, substr(s, 23)::int AS x
      FROM (SELECT to_char(${c}, '9.999999999999999999EEEE') AS s) AS f) AS g)`;
}

/**
 * PostgreSQL prints NaN and infinities in a spelling ClickHouse does not
 * parse; inside an array the old server takes a leading n for NULL, so NaN
 * is -nan there (NaN has no sign in PostgreSQL). Finite values: PostgreSQL's
 * shortest text, read exactly by current servers; digits the old reader
 * reads exactly on old ones.
 */
function floatMapping(chType: 'Float32' | 'Float64', caps: ClickHouseCapabilities, inArray: boolean): Mapping {
  const old = !caps.floatTextExact;
  const nan = old && inArray ? '-nan' : 'nan';
  return {
    chType,
    select: (c) =>
      `CASE WHEN ${c} = 'NaN' THEN '${nan}' WHEN ${c} = 'Infinity' THEN 'inf' WHEN ${c} = '-Infinity' THEN '-inf' ELSE ${old ? oldServerFloatDigits(c) : `${c}::text`} END`,
    render: { kind: 'float', single: chType === 'Float32', nan, old },
  };
}

/** [from, to) of Date32 and DateTime64 on this server, and the last day held (for clamping). */
function extendedRange(caps: ClickHouseCapabilities): { from: string; to: string; lastDay: string } {
  return caps.wideDateRange
    ? { from: '1900-01-01', to: '2300-01-01', lastDay: '2299-12-31' }
    : { from: '1925-01-01', to: '2283-11-12', lastDay: '2283-11-11' };
}

/**
 * Dates and timestamps outside [from, to): ClickHouse stores them as garbage
 * without an error (18.16 turns 2200-01-01 into 0000-00-00), so they are
 * caught on the PostgreSQL side. `last` is the largest value held, for clamping.
 */
function dateGuard(pgType: string, from: string, to: string, last: string): Guard & { range: ColumnPlan['range'] } {
  return {
    when: (v) => `${v}::${pgType} < ${pgString(from)} OR ${v}::${pgType} >= ${pgString(to)}`,
    holds: `[${from}, ${to})`,
    clamp: (v) => `CASE WHEN ${v}::${pgType} < ${pgString(from)} THEN ${pgString(from)}::${pgType} ELSE ${pgString(last)}::${pgType} END`,
    // Compared as text in the rendered form (UTC, no offset), where ISO order is time order; clamped values as the select prints them.
    spec: { kind: 'range', from: renderedTime(pgType, from), to: renderedTime(pgType, to), below: renderedTime(pgType, from), above: renderedTime(pgType, last) },
    range: { from, to, pgType },
  };
}

/** A date or timestamp literal of dateGuard as the column's select prints it: `+00` dropped, midnight spelled out. */
function renderedTime(pgType: string, literal: string): string {
  const t = literal.replace(/\+00$/, '');
  return pgType === 'date' || t.includes(' ') ? t : `${t} 00:00:00`;
}

function timestampMapping(caps: ClickHouseCapabilities, withTimeZone: boolean): Mapping {
  // Rendered in UTC wall-clock time whatever the session or server TimeZone,
  // and stored as DateTime64(6,'UTC'), so the text read back is the text written.
  const utc = (c: string) => (withTimeZone ? `(${c} AT TIME ZONE 'UTC')` : c);
  const pgType = withTimeZone ? 'timestamptz' : 'timestamp';
  // Native output with DateStyle ISO (set on every connection) is the fastest
  // and fails loudly on BC dates instead of printing a wrong year as to_char would.
  if (caps.dateTime64) {
    const r = extendedRange(caps);
    const g = dateGuard(pgType, r.from, r.to, `${r.lastDay} 23:59:59.999999${withTimeZone ? '+00' : ''}`);
    return {
      chType: "DateTime64(6, 'UTC')", select: withTimeZone ? utc : undefined, render: { kind: 'timestamp', zone: withTimeZone, seconds: false }, guard: g, range: g.range,
    };
  }
  // Old servers have whole seconds only: the fraction is truncated (documented).
  const tz = withTimeZone ? '+00' : '';
  // 18.16 prints and parses DateTime only to the end of 2105 (2106-02-07 wraps to 1970).
  const g = dateGuard(pgType, `1970-01-01 00:00:00${tz}`, `2106-01-01 00:00:00${tz}`, `2105-12-31 23:59:59${tz}`);
  return {
    chType: "DateTime('UTC')", select: (c) => `date_trunc('second', ${utc(c)})`, render: { kind: 'timestamp', zone: withTimeZone, seconds: true }, guard: g, range: g.range,
  };
}

function dateMapping(caps: ClickHouseCapabilities): Mapping {
  if (caps.date32) {
    const r = extendedRange(caps);
    const g = dateGuard('date', r.from, r.to, r.lastDay);
    return { chType: 'Date32', guard: g, range: g.range };
  }
  // Date holds days to 2149, but 18.16 reads and prints it only to the end of 2105.
  const g = dateGuard('date', '1970-01-01', '2106-01-01', '2105-12-31');
  return { chType: 'Date', guard: g, range: g.range };
}

// Text comparison: 'Infinity'::numeric exists only from PostgreSQL 14.
const NOT_A_NUMBER = (v: string) => `${v}::text IN ('NaN', 'Infinity', '-Infinity')`;

function numericMapping(type: string, caps: ClickHouseCapabilities, setting: 'decimal' | 'string'): Mapping {
  // 18.16 prints Decimal128 values garbled: wider numerics are text there.
  const maxPrecision = caps.decimal256 ? 76 : caps.dateTime64 ? 38 : 18;
  const m = /^numeric\((\d+),(-?\d+)\)$/.exec(type.replace(/\s+/g, ''));
  if (m && Number(m[1]) <= maxPrecision && Number(m[2]) >= 0 && Number(m[2]) <= Number(m[1])) {
    // A constrained numeric still holds 'NaN', which no Decimal does.
    return { chType: `Decimal(${m[1]}, ${m[2]})`, guard: { when: (v) => `${v} = 'NaN'`, holds: 'numbers, not NaN', spec: { kind: 'nan' } } };
  }
  // Unbounded numeric holds up to 131072 digits: Decimal(76, 38) holds most
  // real values exactly, and anything wider is caught, never rounded. A
  // declared precision past the widest Decimal is text.
  if (type.trim() === 'numeric' && setting === 'decimal' && caps.decimal256) {
    return {
      chType: 'Decimal(76, 38)',
      guard: {
        when: (v) => `${NOT_A_NUMBER(v)} OR abs(${v}) >= 1e38 OR ${v} <> round(${v}, 38)`,
        holds: 'finite numbers with at most 38 digits before and 38 after the point; set numeric: string to keep every digit',
        spec: { kind: 'decimal' },
      },
    };
  }
  return { chType: 'String', select: asText, quoted: true };
}

function jsonMapping(caps: ClickHouseCapabilities, setting: 'string' | 'json', columnName: string): Mapping {
  if (setting === 'string') return { chType: 'String', select: asText, quoted: true };
  if (!caps.jsonType) {
    throw new UserError(
      `column ${JSON.stringify(columnName)}: json: "json" needs the ClickHouse JSON type (25.3 or newer), and this server is ${caps.version}; use json: "string"`,
      'BadConfig',
    );
  }
  // The JSON type holds objects only, and cannot be Nullable.
  return {
    chType: 'JSON',
    select: asText,
    notNullable: { nullAs: `'{}'` },
    guard: { when: (v) => `jsonb_typeof(${v}::jsonb) <> 'object'`, holds: 'JSON objects (not arrays or scalars); use json: "string"', spec: { kind: 'object' } },
  };
}

const STRING_TYPES = new Set(['text', 'varchar', 'name', 'citext', 'xml', 'time', 'timetz', 'interval', 'inet', 'cidr', 'macaddr', 'macaddr8', 'bytea', 'bit', 'varbit']);

function baseMapping(
  typname: string, typtype: string, type: string, caps: ClickHouseCapabilities, opts: MapOptions, columnName: string, inArray = false,
): Mapping {
  switch (typname) {
    case 'int2':
      return { chType: 'Int16' };
    case 'int4':
      return { chType: 'Int32' };
    case 'int8':
      return { chType: 'Int64' };
    case 'float4':
      return floatMapping('Float32', caps, inArray);
    case 'float8':
      return floatMapping('Float64', caps, inArray);
    case 'numeric':
      return numericMapping(type, caps, opts.numeric ?? 'decimal');
    case 'bool':
      // boolout prints t/f; the text cast true/false.
      return caps.bool
        ? { chType: 'Bool', select: asText, render: { kind: 'bool', digit: false } }
        : { chType: 'UInt8', select: (c) => `${c}::int`, render: { kind: 'bool', digit: true } };
    // char(n) keeps its padding: the column's own output, not a ::text cast, which strips it.
    case 'bpchar':
      return { chType: 'String', quoted: true };
    case 'json':
    case 'jsonb':
      return jsonMapping(caps, opts.json ?? 'string', columnName);
    case 'uuid':
      return { chType: 'UUID', quoted: true };
    case 'date':
      return { ...dateMapping(caps), quoted: true };
    case 'timestamp':
      return { ...timestampMapping(caps, false), quoted: true };
    case 'timestamptz':
      return { ...timestampMapping(caps, true), quoted: true };
  }
  // bytea arrives as PostgreSQL's hex text (\x...), intervals and times as PostgreSQL prints them.
  // inet's text cast prints the netmask its output leaves out (10.0.0.1/32).
  if (typname === 'inet') return { chType: 'String', select: asText, quoted: true, render: { kind: 'inet' } };
  if (STRING_TYPES.has(typname) || typtype === 'e') return { chType: 'String', select: asText, quoted: true };
  // Every other type (tsvector, money, ranges, geometry, composites, extension
  // types such as hstore or vector): PostgreSQL's own text, exact and what the
  // type reads back; named once in the worker log.
  return { chType: 'String', select: asText, quoted: true, byDefault: true };
}

/** ClickHouse array text from a PostgreSQL array: [1,NULL,3], ['a\'b','c']. */
function arrayMapping(col: PgColumn, caps: ClickHouseCapabilities, opts: MapOptions): Mapping | undefined {
  if (!col.elemTypname || col.elemTypname.startsWith('_')) return undefined;
  const elemType = (col.baseType ?? col.type).replace(/\[\]$/, '');
  const el = baseMapping(col.elemTypname, col.elemTyptype ?? 'b', elemType, caps, { ...opts, json: 'string' }, col.name, true);
  if (el.notNullable) return undefined;
  // Servers that unescape the field before reading the array (18.16) do not
  // read every quoted element back: arrays of text arrive as PostgreSQL's own array text there.
  if (el.quoted && !caps.arraysReadEscaped) return { chType: 'String', select: asText, quoted: true, ...(el.byDefault ? { byDefault: true as const } : {}) };
  const e = '"e"';
  // char(n) elements keep their padding: their own output (format's %s), not ::text, which strips it.
  const text = el.select ? `(${el.select(e)})::text` : col.elemTypname === 'bpchar' ? `format('%s', ${e})` : `${e}::text`;
  // The server reads the array straight from the escaped field, so COPY's
  // own escaping is the string's; only quotes are doubled.
  const quoted = el.quoted ? `'''' || replace(${text}, '''', '''''') || ''''` : text;
  const elemGuard = el.guard;
  return {
    chType: `Array(Nullable(${el.chType}))`,
    ...(el.byDefault ? { byDefault: true as const } : {}),
    select: (c) =>
      `(SELECT '[' || coalesce(string_agg(CASE WHEN ${e} IS NULL THEN 'NULL' ELSE ${quoted} END, ',' ORDER BY n), '') || ']' FROM unnest(${c}) WITH ORDINALITY AS u(${e}, n))`,
    // box is the one built-in type whose array text separates elements with ';'.
    render: { kind: 'array', element: el.render ?? { kind: 'text' }, quoted: !!el.quoted, delimiter: col.elemTypname === 'box' ? ';' : ',' },
    // ClickHouse has no Nullable(Array): a NULL array arrives as [].
    notNullable: { nullAs: `'[]'` },
    guard: {
      when: (v) =>
        `array_ndims(${v}) > 1` + (elemGuard ? ` OR EXISTS (SELECT 1 FROM unnest(${v}) AS u(${e}) WHERE ${elemGuard.when(e)})` : ''),
      holds: `one-dimensional arrays${elemGuard ? ` of values in ${elemGuard.holds}` : ''}`,
      spec: { kind: 'array', ...(elemGuard ? { element: elemGuard.spec } : {}) },
    },
  };
}

function guarded(quoted: string, name: string, chType: string, guard: Guard, render: (c: string) => string, policy: OutOfRangePolicy): string {
  const when = guard.when(quoted);
  let instead: string;
  if (policy === 'null') instead = 'NULL';
  // The value held instead is rendered as the column's values are (in UTC, whole seconds on old servers).
  else if (policy === 'clamp' && guard.clamp) instead = `(${render(guard.clamp(quoted))})::text`;
  else {
    // A failing cast is the only way a plain SELECT can raise an error, and its message carries ours.
    const [before, after] = outOfRangeMessage(name, chType, guard.holds, '\u0000').split('\u0000') as [string, string];
    instead = `(${[pgString(`${RANGE_ERROR_MARK}${before}`), `${quoted}::text`, pgString(after)].join(' || ')})::int::text`;
  }
  return `CASE WHEN ${when} THEN ${instead} ELSE (${render(quoted)})::text END`;
}

/**
 * Maps one PostgreSQL column to its ClickHouse type and the SELECT expression
 * that renders it as text ClickHouse parses exactly.
 */
export function mapColumn(col: PgColumn, caps: ClickHouseCapabilities, options: MapOptions | boolean = {}): ColumnPlan {
  const opts: MapOptions = typeof options === 'boolean' ? { key: options } : options;
  const quoted = pgIdent(col.name);
  // An array ClickHouse cannot hold as an Array (of JSON objects): its text, as any other type without a mapping.
  const m =
    (col.typname.startsWith('_') && col.elemTypname ? arrayMapping(col, caps, opts) : undefined) ??
    baseMapping(col.typname, col.typtype, col.baseType ?? col.type, caps, opts, col.name);
  if (opts.override) {
    // The user's type: the default rendering where there is one, else the text form.
    // ClickHouse allows no Nullable around these; LowCardinality takes it inside.
    const nullable = !col.notNull && !opts.key && !/^(Nullable|Array|LowCardinality|JSON|Map|Tuple)\b/.test(opts.override);
    const expr = m.select ? m.select(quoted) : quoted;
    return {
      name: col.name, pgType: col.type, chType: nullable ? `Nullable(${opts.override})` : opts.override, select: expr, pullSafe: false,
      render: { value: m.render ?? { kind: 'text' } },
    };
  }
  const policy = opts.key && opts.outOfRange === 'null' ? 'fail' : (opts.outOfRange ?? 'fail');
  const nullable = !col.notNull && !opts.key && !m.notNullable;
  // A value replaced by NULL needs a Nullable column even where PostgreSQL has NOT NULL.
  const nullableForPolicy = !!m.guard && policy === 'null' && !m.notNullable && !opts.key;
  const render = m.select ?? ((c: string) => c);
  let expr = render(quoted);
  if (m.guard) expr = guarded(quoted, col.name, m.chType, m.guard, render, policy);
  // Both such mappings (Array, JSON) render text, so NULL is replaced in kind.
  if (m.notNullable && !col.notNull) expr = `coalesce(${expr}, ${m.notNullable.nullAs})`;
  const { range } = m;
  const cdc: ColumnRender = {
    value: m.render ?? { kind: 'text' },
    ...(m.guard ? { guard: m.guard.spec, policy: policy === 'clamp' && !m.guard.clamp ? 'fail' : policy } : {}),
    ...(m.notNullable && !col.notNull ? { nullAs: m.notNullable.nullAs.slice(1, -1) } : {}),
  };
  return {
    name: col.name,
    pgType: col.type,
    chType: nullable || nullableForPolicy ? `Nullable(${m.chType})` : m.chType,
    select: expr,
    pullSafe: PULL_SAFE.has(col.typname) && !col.baseType && policy === 'fail',
    ...(range ? { range } : {}),
    ...(m.guard ? { guard: { when: m.guard.when(quoted), holds: m.guard.holds } } : {}),
    ...(m.byDefault ? { textByDefault: true as const } : {}),
    render: cdc,
  };
}

/**
 * Types the embedded engine's postgresql() function reads exactly, checked
 * value by value in the tests. Left out on purpose: timestamptz (read in the
 * PostgreSQL session's time zone with the offset dropped, a silent shift),
 * numeric (NaN and width checks), floats, bool, uuid and the rest (not verified).
 */
const PULL_SAFE = new Set(['int2', 'int4', 'int8', 'text', 'varchar', 'json', 'jsonb', 'timestamp', 'date']);

/** The message a value a column cannot hold stops the sync with (both copy strategies). */
export function outOfRangeMessage(name: string, chType: string, holds: string, value: string): string {
  return `column ${JSON.stringify(name)} value ${value} is outside what ClickHouse ${chType} holds ${holds}; see "Out-of-range values" in the README`;
}

export function isTimestampType(typname: string): boolean {
  return typname === 'timestamp' || typname === 'timestamptz' || typname === 'date';
}

export function isIntegerType(typname: string): boolean {
  return typname === 'int2' || typname === 'int4' || typname === 'int8';
}

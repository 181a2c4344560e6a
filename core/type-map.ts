import type { ClickHouseCapabilities } from './clickhouse-version';
import { RANGE_ERROR_MARK, UserError } from './errors';
import { pgIdent, pgString } from './quote';
import type { ColumnPlan } from './types';

/** A column as the PostgreSQL catalog describes it. */
export interface PgColumn {
  name: string;
  /** format_type(atttypid, atttypmod), e.g. `numeric(12,2)`, `timestamp without time zone`. */
  type: string;
  /** pg_type.typname of the column type, e.g. `int8`, `timestamptz`, `_int4`. */
  typname: string;
  /** pg_type.typtype: b base, e enum, d domain, ... */
  typtype: string;
  notNull: boolean;
}

interface Mapping {
  chType: string;
  /** Builds the SELECT expression from the quoted column name. */
  select?: (col: string) => string;
  /** Half-open range [from, to) of values the ClickHouse type holds, as PostgreSQL literals. */
  range?: { from: string; to: string; pgType: string };
}

// ClickHouse stores values outside a date type's range as garbage without an
// error (18.16 turns 2200-01-01 into 0000-00-00), so such values must be
// caught on the PostgreSQL side. A failing cast is the only way a plain
// SELECT can raise an error, and its message carries ours.
function rangeGuard(col: string, name: string, chType: string, range: NonNullable<Mapping['range']>, expr: string): string {
  const v = `${col}::${range.pgType}`;
  const [before, after] = outOfRangeMessage(name, chType, range, '\u0000').split('\u0000') as [string, string];
  const msg = [pgString(`${RANGE_ERROR_MARK}${before}`), `${col}::text`, pgString(after)].join(' || ');
  return `CASE WHEN ${v} < ${pgString(range.from)} OR ${v} >= ${pgString(range.to)} THEN (${msg})::int::text ELSE (${expr})::text END`;
}

const asText = (c: string) => `${c}::text`;

// PostgreSQL prints NaN and infinities in a spelling ClickHouse does not parse.
const floatText = (c: string) =>
  `CASE WHEN ${c} = 'NaN' THEN 'nan' WHEN ${c} = 'Infinity' THEN 'inf' WHEN ${c} = '-Infinity' THEN '-inf' ELSE ${c}::text END`;

/** [from, to) of Date32 and DateTime64 on this server. */
function extendedRange(caps: ClickHouseCapabilities): { from: string; to: string } {
  return caps.wideDateRange ? { from: '1900-01-01', to: '2300-01-01' } : { from: '1925-01-01', to: '2283-11-12' };
}

function timestampMapping(caps: ClickHouseCapabilities, withTimeZone: boolean): Mapping {
  // Rendered in UTC wall-clock time whatever the session or server TimeZone,
  // and stored as DateTime64(6,'UTC'), so the text read back is the text written.
  const utc = (c: string) => (withTimeZone ? `(${c} AT TIME ZONE 'UTC')` : c);
  // Native output with DateStyle ISO (set on every connection) is the fastest
  // and fails loudly on BC dates instead of printing a wrong year as to_char would.
  if (caps.dateTime64) {
    return {
      chType: "DateTime64(6, 'UTC')",
      select: withTimeZone ? utc : undefined,
      range: { ...extendedRange(caps), pgType: withTimeZone ? 'timestamptz' : 'timestamp' },
    };
  }
  // Old servers have whole seconds only: the fraction is truncated (documented).
  return {
    chType: "DateTime('UTC')",
    select: (c) => `date_trunc('second', ${utc(c)})`,
    range: withTimeZone
      ? { from: '1970-01-01 00:00:00+00', to: '2106-02-07 06:28:16+00', pgType: 'timestamptz' }
      : { from: '1970-01-01 00:00:00', to: '2106-02-07 06:28:16', pgType: 'timestamp' },
  };
}

function numericMapping(type: string, caps: ClickHouseCapabilities): Mapping {
  const m = /^numeric\((\d+),(\d+)\)$/.exec(type.replace(/\s+/g, ''));
  if (m && Number(m[1]) <= (caps.decimal256 ? 76 : 38)) return { chType: `Decimal(${m[1]}, ${m[2]})` };
  // Unbounded numeric can hold 131072 digits: a string keeps every one.
  return { chType: 'String', select: asText };
}

function baseMapping(col: PgColumn, caps: ClickHouseCapabilities): Mapping | undefined {
  switch (col.typname) {
    case 'int2':
      return { chType: 'Int16' };
    case 'int4':
      return { chType: 'Int32' };
    case 'int8':
      return { chType: 'Int64' };
    case 'float4':
      return { chType: 'Float32', select: floatText };
    case 'float8':
      return { chType: 'Float64', select: floatText };
    case 'numeric':
      return numericMapping(col.type, caps);
    case 'bool':
      return caps.bool ? { chType: 'Bool', select: asText } : { chType: 'UInt8', select: (c) => `${c}::int` };
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
    case 'citext':
    case 'json':
    case 'jsonb':
    case 'xml':
    case 'time':
    case 'timetz':
    case 'interval':
    case 'inet':
    case 'cidr':
    case 'macaddr':
      return { chType: 'String', select: asText };
    case 'uuid':
      return { chType: 'UUID' };
    case 'date':
      return caps.date32
        ? { chType: 'Date32', range: { ...extendedRange(caps), pgType: 'date' } }
        : { chType: 'Date', range: { from: '1970-01-01', to: '2149-06-07', pgType: 'date' } };
    case 'timestamp':
      return timestampMapping(caps, false);
    case 'timestamptz':
      return timestampMapping(caps, true);
  }
  if (col.typtype === 'e') return { chType: 'String', select: asText };
  return undefined;
}

/**
 * Maps one PostgreSQL column to its ClickHouse type and the SELECT expression
 * that renders it as text ClickHouse parses exactly. `keyColumn` columns are
 * never Nullable: ClickHouse cannot sort by a Nullable column.
 */
export function mapColumn(col: PgColumn, caps: ClickHouseCapabilities, keyColumn = false): ColumnPlan {
  const m = baseMapping(col, caps);
  if (!m) {
    throw new UserError(
      `column ${JSON.stringify(col.name)} has type ${col.type}, which pg2ch cannot copy yet; exclude the column or change its type`,
      'UnsupportedType',
    );
  }
  const quoted = pgIdent(col.name);
  const nullable = !col.notNull && !keyColumn;
  const expr = m.select ? m.select(quoted) : quoted;
  return {
    name: col.name,
    pgType: col.type,
    chType: nullable ? `Nullable(${m.chType})` : m.chType,
    select: m.range ? rangeGuard(quoted, col.name, m.chType, m.range, expr) : expr,
    pullSafe: PULL_SAFE.has(col.typname),
    ...(m.range ? { range: m.range } : {}),
  };
}

/**
 * Types the embedded engine's postgresql() function reads exactly, checked
 * value by value in the tests. Left out on purpose: timestamptz (read in the
 * PostgreSQL session's time zone with the offset dropped, a silent shift),
 * unbounded numeric (fails), floats, bool, uuid and the rest (not verified).
 */
const PULL_SAFE = new Set(['int2', 'int4', 'int8', 'text', 'varchar', 'json', 'jsonb', 'timestamp', 'date']);

/** The message a value outside a column's range stops the sync with (both copy strategies). */
export function outOfRangeMessage(name: string, chType: string, range: NonNullable<ColumnPlan['range']>, value: string): string {
  return `column ${JSON.stringify(name)} value ${value} is outside what ClickHouse ${chType} holds [${range.from}, ${range.to}); see "Out-of-range values" in the README`;
}

export function isTimestampType(typname: string): boolean {
  return typname === 'timestamp' || typname === 'timestamptz' || typname === 'date';
}

export function isIntegerType(typname: string): boolean {
  return typname === 'int2' || typname === 'int4' || typname === 'int8';
}

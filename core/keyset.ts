import { pgIdent, pgString } from './quote';
import { isCursorValue } from './ranges';

/**
 * A timestamp cursor with a tiebreak column (updated mode: updated_at, id).
 * Many rows can share a timestamp, so a position is the pair: the time in
 * microseconds since 1970-01-01 UTC (exact for every PostgreSQL timestamp in
 * ClickHouse's range, and an Int64 in sync_control) and the tiebreak's text.
 * Positions travel as strings "<micros>:<tiebreak>"; "<micros>" alone means
 * "before every row at that time" (where a lookback starts).
 */
export interface Keyset {
  time: string;
  timeType: 'timestamp' | 'timestamptz' | 'date';
  tiebreak: string;
  /** format_type of the tiebreak column, for casting its text back. */
  tiebreakType: string;
}

export interface KeysetPosition {
  micros: string;
  /** undefined: before the first row at `micros`. */
  key?: string;
}

export function encodePosition(p: KeysetPosition): string {
  return p.key === undefined ? p.micros : `${p.micros}:${p.key}`;
}

export function decodePosition(s: string): KeysetPosition {
  const i = s.indexOf(':');
  const micros = i < 0 ? s : s.slice(0, i);
  if (!isCursorValue(micros)) throw new Error(`not a keyset position: ${JSON.stringify(s)}`);
  return i < 0 ? { micros } : { micros, key: s.slice(i + 1) };
}

const US_PER_SECOND = 1_000_000n;
const US_PER_DAY = 86_400n * US_PER_SECOND;

/** Floor division for BigInt (times before 1970 are negative). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** The exact PostgreSQL value at `micros`, built without floating point. */
export function timeLiteral(ks: Pick<Keyset, 'timeType'>, micros: string): string {
  const us = BigInt(micros);
  if (ks.timeType === 'date') return `('1970-01-01'::date + ${floorDiv(us, US_PER_DAY)})`;
  const secs = floorDiv(us, US_PER_SECOND);
  const frac = us - secs * US_PER_SECOND;
  const epoch = ks.timeType === 'timestamptz' ? `'1970-01-01 00:00:00+00'::timestamptz` : `'1970-01-01 00:00:00'::timestamp`;
  return `(${epoch} + ${secs} * interval '1 second' + ${frac} * interval '1 microsecond')`;
}

/** PostgreSQL expression of a row's time as microseconds text (extract is exact numeric from PostgreSQL 14). */
export function microsOf(column: string): string {
  return `round(extract(epoch from ${column}) * 1000000)::int8::text`;
}

function after(ks: Keyset, p: KeysetPosition): string {
  const t = pgIdent(ks.time);
  if (p.key === undefined) return `${t} >= ${timeLiteral(ks, p.micros)}`;
  return `(${t}, ${pgIdent(ks.tiebreak)}) > (${timeLiteral(ks, p.micros)}, ${pgString(p.key)}::${ks.tiebreakType})`;
}

function upTo(ks: Keyset, p: KeysetPosition): string {
  const t = pgIdent(ks.time);
  if (p.key === undefined) return `${t} < ${timeLiteral(ks, p.micros)}`;
  return `(${t}, ${pgIdent(ks.tiebreak)}) <= (${timeLiteral(ks, p.micros)}, ${pgString(p.key)}::${ks.tiebreakType})`;
}

/** Rows in (afterPos, toPos] in keyset order, as a PostgreSQL predicate. */
export function keysetWhere(ks: Keyset, afterPos: string | null, toPos?: string): string {
  const parts = [afterPos === null ? `${pgIdent(ks.time)} IS NOT NULL` : after(ks, decodePosition(afterPos))];
  if (toPos !== undefined) parts.push(upTo(ks, decodePosition(toPos)));
  return parts.join(' AND ');
}

/** Where a run starts: the watermark, or `seconds` before it so late-committed updates are read again. */
export function lookbackFrom(watermark: string | null, seconds: number): string | null {
  if (watermark === null || seconds <= 0) return watermark;
  const p = decodePosition(watermark);
  return encodePosition({ micros: (BigInt(p.micros) - BigInt(seconds) * US_PER_SECOND).toString() });
}

/** A position as people read it: the UTC time and the tiebreak. */
export function describePosition(ks: Pick<Keyset, 'timeType'>, pos: string): string {
  const p = decodePosition(pos);
  const us = BigInt(p.micros);
  const ms = Number(floorDiv(us, 1000n));
  const sub = (us - floorDiv(us, 1000n) * 1000n).toString().padStart(3, '0');
  const iso = new Date(ms).toISOString().replace('Z', sub === '000' ? 'Z' : `${sub}Z`);
  const time = ks.timeType === 'date' ? iso.slice(0, 10) : iso;
  return p.key === undefined ? time : `${time} / ${p.key}`;
}

/**
 * A cursor value from a sync's result or progress, as people read it: a
 * keyset position ("<micros>:<tiebreak>") as its UTC time and tiebreak, an
 * integer as it is. Positions with a tiebreak are the only values with ':'.
 */
export function describeCursorValue(value: string): string {
  return value.includes(':') ? describePosition({ timeType: 'timestamp' }, value) : value;
}

/** The fields --json adds for a keyset position, beside the raw value: its time (ISO, UTC) and tiebreak. */
export function positionFields(value: string | null, names: { time: string; key: string }): Record<string, string> {
  if (value === null || !value.includes(':')) return {};
  const p = decodePosition(value);
  return { [names.time]: describePosition({ timeType: 'timestamp' }, p.micros), [names.key]: p.key! };
}

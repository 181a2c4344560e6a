import { describe, expect, it } from 'vitest';
import { decodePosition, describePosition, encodePosition, type Keyset, keysetWhere, lookbackFrom, microsOf, timeLiteral } from '../../core/keyset';

const KS: Keyset = { time: 'updated_at', timeType: 'timestamptz', tiebreak: 'id', tiebreakType: 'bigint' };
const TS: Keyset = { time: 'ts', timeType: 'timestamp', tiebreak: 'event_id', tiebreakType: 'uuid' };
const DAY: Keyset = { time: 'day', timeType: 'date', tiebreak: 'id', tiebreakType: 'integer' };

/** 2023-11-14T22:13:20.123456Z */
const T = '1700000000123456';
const T_LITERAL = `('1970-01-01 00:00:00+00'::timestamptz + 1700000000 * interval '1 second' + 123456 * interval '1 microsecond')`;

describe('encodePosition / decodePosition', () => {
  it.each([
    [{ micros: T, key: '42' }, `${T}:42`],
    [{ micros: T }, T],
    [{ micros: '-1', key: 'x' }, '-1:x'],
    [{ micros: '0', key: '' }, '0:'],
    // Only the first ':' separates: a key may hold more.
    [{ micros: T, key: '2024-01-01T00:00:00:abc' }, `${T}:2024-01-01T00:00:00:abc`],
  ])('%j <-> %j', (pos, text) => {
    expect(encodePosition(pos)).toBe(text);
    expect(decodePosition(text)).toStrictEqual(pos);
    expect(decodePosition(encodePosition(pos))).toStrictEqual(pos);
  });

  it('a position without key decodes without a key property', () => {
    expect('key' in decodePosition(T)).toBe(false);
  });

  it('an empty key is kept, not dropped', () => {
    expect(decodePosition('5:')).toStrictEqual({ micros: '5', key: '' });
  });

  it.each(['', ':42', 'abc', '1.5:2', '12345678901234567890', ' 5', '+5:1', '--1'])('rejects %j', (s) => {
    expect(() => decodePosition(s)).toThrowError(new Error(`not a keyset position: ${JSON.stringify(s)}`));
  });

  it('accepts 19 digits, the width of an Int64', () => {
    expect(decodePosition('9223372036854775807').micros).toBe('9223372036854775807');
  });
});

describe('timeLiteral', () => {
  it('timestamptz: epoch plus whole seconds plus microseconds, no floating point', () => {
    expect(timeLiteral(KS, T)).toBe(T_LITERAL);
  });

  it('timestamp: the epoch without a time zone', () => {
    expect(timeLiteral(TS, '1500000')).toBe(`('1970-01-01 00:00:00'::timestamp + 1 * interval '1 second' + 500000 * interval '1 microsecond')`);
  });

  it('the epoch itself', () => {
    expect(timeLiteral(TS, '0')).toBe(`('1970-01-01 00:00:00'::timestamp + 0 * interval '1 second' + 0 * interval '1 microsecond')`);
  });

  it('before 1970 the seconds are floored: -1 micro is -1 s + 999999 us', () => {
    expect(timeLiteral(KS, '-1')).toBe(`('1970-01-01 00:00:00+00'::timestamptz + -1 * interval '1 second' + 999999 * interval '1 microsecond')`);
  });

  it('an exact negative second has no fraction', () => {
    expect(timeLiteral(TS, '-2000000')).toBe(`('1970-01-01 00:00:00'::timestamp + -2 * interval '1 second' + 0 * interval '1 microsecond')`);
  });

  it('1900-01-01 00:00:00.000001 (the earliest DateTime64 day) stays exact', () => {
    // -2208988800 s is 1900-01-01 00:00:00 UTC.
    expect(timeLiteral(KS, '-2208988799999999')).toBe(
      `('1970-01-01 00:00:00+00'::timestamptz + -2208988800 * interval '1 second' + 1 * interval '1 microsecond')`,
    );
  });

  it('is exact beyond 2^53 microseconds', () => {
    // 2299-12-31 23:59:59.999999 UTC; as a JS number the last digit would be lost.
    expect(timeLiteral(TS, '10413791999999999')).toBe(`('1970-01-01 00:00:00'::timestamp + 10413791999 * interval '1 second' + 999999 * interval '1 microsecond')`);
  });

  it('date: whole days after 1970-01-01', () => {
    expect(timeLiteral(DAY, '86400000000')).toBe(`('1970-01-01'::date + 1)`);
    expect(timeLiteral(DAY, '0')).toBe(`('1970-01-01'::date + 0)`);
  });

  it('date: a time inside a day is floored to that day, before 1970 too', () => {
    expect(timeLiteral(DAY, '86399999999')).toBe(`('1970-01-01'::date + 0)`);
    expect(timeLiteral(DAY, '-1')).toBe(`('1970-01-01'::date + -1)`);
    expect(timeLiteral(DAY, '-86400000000')).toBe(`('1970-01-01'::date + -1)`);
    expect(timeLiteral(DAY, '-86400000001')).toBe(`('1970-01-01'::date + -2)`);
  });
});

describe('microsOf', () => {
  it('renders a row time as microseconds text', () => {
    expect(microsOf('"updated_at"')).toBe('round(extract(epoch from "updated_at") * 1000000)::int8::text');
  });
});

describe('keysetWhere', () => {
  it('from the start: every row with a time', () => {
    expect(keysetWhere(KS, null)).toBe('"updated_at" IS NOT NULL');
  });

  it('from the start up to a position, inclusive', () => {
    expect(keysetWhere(KS, null, `${T}:42`)).toBe(`"updated_at" IS NOT NULL AND ("updated_at", "id") <= (${T_LITERAL}, '42'::bigint)`);
  });

  it('after a position with a key: strictly after the (time, tiebreak) pair', () => {
    expect(keysetWhere(KS, `${T}:42`)).toBe(`("updated_at", "id") > (${T_LITERAL}, '42'::bigint)`);
  });

  it('between two positions', () => {
    expect(keysetWhere(KS, `${T}:42`, `${T}:99`)).toBe(
      `("updated_at", "id") > (${T_LITERAL}, '42'::bigint) AND ("updated_at", "id") <= (${T_LITERAL}, '99'::bigint)`,
    );
  });

  it('a lookback position without key starts at every row of that time', () => {
    expect(keysetWhere(KS, T)).toBe(`"updated_at" >= ${T_LITERAL}`);
  });

  it('an end position without key stops before every row of that time', () => {
    expect(keysetWhere(KS, null, T)).toBe(`"updated_at" IS NOT NULL AND "updated_at" < ${T_LITERAL}`);
  });

  it('escapes the key as a string literal and casts it to the tiebreak type', () => {
    expect(keysetWhere(TS, "0:it's")).toBe(
      `("ts", "event_id") > (('1970-01-01 00:00:00'::timestamp + 0 * interval '1 second' + 0 * interval '1 microsecond'), 'it''s'::uuid)`,
    );
  });

  it('quotes the column names', () => {
    const ks: Keyset = { time: 'Up"dated', timeType: 'date', tiebreak: 'my id', tiebreakType: 'text' };
    expect(keysetWhere(ks, '0:a')).toBe(`("Up""dated", "my id") > (('1970-01-01'::date + 0), 'a'::text)`);
  });

  it('rejects a malformed position', () => {
    expect(() => keysetWhere(KS, 'yesterday')).toThrow('not a keyset position: "yesterday"');
  });
});

describe('lookbackFrom', () => {
  it('no watermark: from the start', () => {
    expect(lookbackFrom(null, 60)).toBeNull();
  });

  it('no lookback: the watermark as it is, key included', () => {
    expect(lookbackFrom(`${T}:42`, 0)).toBe(`${T}:42`);
    expect(lookbackFrom(`${T}:42`, -5)).toBe(`${T}:42`);
  });

  it('moves back whole seconds and drops the key', () => {
    expect(lookbackFrom(`${T}:42`, 60)).toBe('1699999940123456');
  });

  it('can cross 1970', () => {
    expect(lookbackFrom('1000000:7', 2)).toBe('-1000000');
  });

  it('stays exact past 2^53', () => {
    expect(lookbackFrom('10413791999999999:1', 1)).toBe('10413791998999999');
  });

  it('the result is a position keysetWhere reads as "at or after"', () => {
    expect(keysetWhere(KS, lookbackFrom(`${T}:42`, 1))).toBe(
      `"updated_at" >= ('1970-01-01 00:00:00+00'::timestamptz + 1699999999 * interval '1 second' + 123456 * interval '1 microsecond')`,
    );
  });
});

describe('describePosition', () => {
  it('UTC time with microseconds and the key', () => {
    expect(describePosition(KS, `${T}:42`)).toBe('2023-11-14T22:13:20.123456Z / 42');
  });

  it('milliseconds only when the micros are whole', () => {
    expect(describePosition(KS, '1700000000123000')).toBe('2023-11-14T22:13:20.123Z');
  });

  it('without key: the time alone', () => {
    expect(describePosition(TS, '0')).toBe('1970-01-01T00:00:00.000Z');
  });

  it('before 1970', () => {
    expect(describePosition(KS, '-1')).toBe('1969-12-31T23:59:59.999999Z');
    expect(describePosition(KS, '-1500:k')).toBe('1969-12-31T23:59:59.998500Z / k');
  });

  it('a date shows the day', () => {
    expect(describePosition(DAY, '86400000000:5')).toBe('1970-01-02 / 5');
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_STALL_WARN_AFTER_MS, oneLine, retryLine, retryOf, stallLine, stallWarnAfterMs } from '../../core/stall';

describe('PG2CH_STALL_WARN_AFTER', () => {
  it.each([
    [undefined, DEFAULT_STALL_WARN_AFTER_MS],
    ['', DEFAULT_STALL_WARN_AFTER_MS],
    ['90', 90_000],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['0', 0],
  ])('%s is %d ms', (raw, ms) => {
    expect(stallWarnAfterMs({ PG2CH_STALL_WARN_AFTER: raw })).toBe(ms);
  });

  it.each([['soon'], ['-5m'], ['5 minutes'], ['1.5m']])('%s is refused naming the variable', (raw) => {
    expect(() => stallWarnAfterMs({ PG2CH_STALL_WARN_AFTER: raw })).toThrow(/^PG2CH_STALL_WARN_AFTER must be a duration such as 90s, 5m or 1h/);
  });
});

describe('retryOf', () => {
  const at = () => Date.UTC(2026, 0, 2, 3, 4, 5);
  it('picks the failing activity with the highest attempt, and ignores first attempts', () => {
    const r = retryOf(
      [
        { activityType: { name: 'readChunk' }, attempt: 1, lastFailure: null },
        { activityType: { name: 'insertBatch' }, attempt: 4, lastFailure: { message: 'PostgreSQL 53300: too many connections\n  at x (y.js:1)' } },
        { activityType: { name: 'checkpoint' }, attempt: 2, lastFailure: { message: 'ClickHouse: Code: 999' } },
      ],
      at,
    );
    expect(r).toEqual({ activity: 'insertBatch', attempt: 4, lastError: 'PostgreSQL 53300: too many connections', lastFailedAt: at() });
    expect(retryLine(r!)).toBe('retrying insertBatch (attempt 4, last failed 2026-01-02T03:04:05Z): PostgreSQL 53300: too many connections');
  });

  it('is undefined when nothing has failed', () => {
    expect(retryOf([{ activityType: { name: 'insertBatch' }, attempt: 1 }], at)).toBeUndefined();
    expect(retryOf([], at)).toBeUndefined();
  });
});

it('oneLine masks credentials in URLs and keeps one short line', () => {
  expect(oneLine('connect to http://u:s3cret@h:8123 failed\nstack')).toBe('connect to http://u:***@h:8123 failed');
  expect(oneLine('x'.repeat(400))).toHaveLength(301);
});

it('stallLine says how long, since when, and why', () => {
  const since = Date.UTC(2026, 0, 2, 3, 0, 0);
  const retry = { activity: 'prepareTable', attempt: 6, lastError: 'PostgreSQL 53300: too many connections', lastFailedAt: null };
  expect(stallLine('the sync of t', since, since + 5 * 60_000, retry)).toBe(
    'warning: the sync of t has not moved for 5 min (since 2026-01-02T03:00:00Z); it keeps failing: retrying prepareTable (attempt 6): PostgreSQL 53300: too many connections; it goes on by itself once the cause is fixed',
  );
  expect(stallLine('the sync of t', since, since + 30_000, undefined)).toMatch(/has not moved for 30 s .*no activity has failed/);
});

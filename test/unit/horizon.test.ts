import { describe, expect, it } from 'vitest';
import { chunkHorizon, earlierHorizon, horizonOf, resumePosition, secondsAhead } from '../../core/horizon';

const S = 1_000_000n;
const at = (s: number) => (BigInt(s) * S).toString();

describe('horizonOf', () => {
  it('is the read clock minus the margin when no transaction is open', () => {
    expect(horizonOf({ at: at(1000), oldest: null, hidden: 0 })).toBe(at(999));
  });

  it('goes back to the oldest open transaction, whose now() its rows carry', () => {
    expect(horizonOf({ at: at(1000), oldest: at(940), hidden: 0 })).toBe(at(939));
    // A transaction's start is never after the read; if a clock says so, the read's own clock bounds it.
    expect(horizonOf({ at: at(1000), oldest: at(1005), hidden: 0 })).toBe(at(999));
  });

  it('keeps microseconds exact', () => {
    expect(horizonOf({ at: '1764648000123457', oldest: '1764647990000001', hidden: 0 })).toBe('1764647989000001');
  });

  it('goes back the fallback window when sessions of other roles hide their start', () => {
    expect(horizonOf({ at: at(10_000), oldest: null, hidden: 2 })).toBe(at(10_000 - 600 - 1));
    // A visible transaction older than the fallback still counts.
    expect(horizonOf({ at: at(10_000), oldest: at(1_000), hidden: 1 })).toBe(at(999));
    expect(horizonOf({ at: at(10_000), oldest: null, hidden: 1 }, 2, 60)).toBe(at(10_000 - 60 - 2));
  });
});

describe('earlierHorizon', () => {
  it('takes the smaller, by number not text, and none stands for no bound', () => {
    expect(earlierHorizon(undefined, undefined)).toBeUndefined();
    expect(earlierHorizon(undefined, '5')).toBe('5');
    expect(earlierHorizon('5', undefined)).toBe('5');
    expect(earlierHorizon('999', '1000')).toBe('999');
    expect(earlierHorizon('1000', '999')).toBe('999');
    expect(earlierHorizon('-5', '3')).toBe('-5');
  });
});

describe('resumePosition', () => {
  it('starts before every row at the horizon when it is behind the watermark', () => {
    expect(resumePosition(`${at(1000)}:42`, at(990))).toBe(at(990));
  });

  it('keeps the watermark when the horizon is at or after its time, or none was recorded', () => {
    expect(resumePosition(`${at(1000)}:42`, at(1000))).toBe(`${at(1000)}:42`);
    expect(resumePosition(`${at(1000)}:42`, at(1001))).toBe(`${at(1000)}:42`);
    expect(resumePosition(`${at(1000)}:42`, null)).toBe(`${at(1000)}:42`);
    expect(resumePosition(null, at(5))).toBeNull();
  });
});

describe('secondsAhead', () => {
  it('names a chunk stamped past the read clock by more than the margin', () => {
    expect(secondsAhead(`${at(1000)}:1`, at(1000))).toBeNull();
    expect(secondsAhead(`${at(1001)}:1`, at(1000))).toBeNull();
    expect(secondsAhead(`${at(1030)}:1`, at(1000))).toBe(30);
    expect(secondsAhead(at(1030), at(1000))).toBe(30);
  });
});

describe('chunkHorizon', () => {
  it('asks the next run to start at the horizon only when it is not past the chunk\'s end', () => {
    const reading = { at: at(1000), oldest: at(950), hidden: 0 };
    expect(chunkHorizon(reading, `${at(999)}:7`)).toBe(at(949));
    expect(chunkHorizon(reading, `${at(949)}:7`)).toBe(at(949));
    // A backlog chunk ending before every open transaction began: nothing it read can be missing.
    expect(chunkHorizon(reading, `${at(948)}:7`)).toBeUndefined();
  });
});

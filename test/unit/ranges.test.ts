import { describe, expect, it } from 'vitest';
import { afterIdFor, cursorBoundsError, isCursorValue, mergeRanges, nextCovered, splitRange, subtractRanges } from '../../core/ranges';

const r = (afterId: string | null, toId: string) => ({ afterId, toId });
const BIG = '9223372036854775807';

describe('mergeRanges', () => {
  it('joins touching and overlapping ranges and sorts them', () => {
    expect(mergeRanges([r('20', '30'), r('5', '10'), r('10', '15'), r('12', '18')])).toEqual([r('5', '18'), r('20', '30')]);
  });
  it('puts the unbounded range first and absorbs what it reaches', () => {
    expect(mergeRanges([r('3', '9'), r(null, '4')])).toEqual([r(null, '9')]);
  });
  it('drops empty ranges', () => {
    expect(mergeRanges([r('5', '5'), r('7', '6')])).toEqual([]);
  });
  it('compares beyond 2^53 exactly', () => {
    expect(mergeRanges([r('9007199254740993', BIG), r('9007199254740992', '9007199254740993')])).toEqual([r('9007199254740992', BIG)]);
  });
});

describe('subtractRanges', () => {
  it('returns the whole range when nothing is covered', () => {
    expect(subtractRanges(r(null, '100'), [])).toEqual([r(null, '100')]);
  });
  it('returns the gaps between covered ranges', () => {
    expect(subtractRanges(r('0', '100'), [r('10', '20'), r('50', '60')])).toEqual([r('0', '10'), r('20', '50'), r('60', '100')]);
  });
  it('returns nothing when a covered range contains it', () => {
    expect(subtractRanges(r('10', '20'), [r(null, '30')])).toEqual([]);
  });
  it('clips covered ranges that stick out', () => {
    expect(subtractRanges(r('10', '20'), [r('0', '12'), r('18', '40')])).toEqual([r('12', '18')]);
  });
  it('keeps an unbounded start when the cover begins later', () => {
    expect(subtractRanges(r(null, '20'), [r('5', '20')])).toEqual([r(null, '5')]);
  });
});

describe('nextCovered', () => {
  const covered = [r('100', '200'), r('300', '400')];
  it('jumps when the position is inside a covered range', () => {
    expect(nextCovered('150', covered)).toEqual({ jumpTo: '200' });
    expect(nextCovered('100', covered)).toEqual({ jumpTo: '200' });
  });
  it('stops at the next covered range otherwise', () => {
    expect(nextCovered('200', covered)).toEqual({ stopAt: '300' });
    expect(nextCovered(null, covered)).toEqual({ stopAt: '100' });
  });
  it('says nothing past the last one', () => {
    expect(nextCovered('400', covered)).toEqual({});
  });
  it('jumps from the very start over a range with no lower bound', () => {
    expect(nextCovered(null, [r(null, '50')])).toEqual({ jumpTo: '50' });
  });
});

describe('splitRange', () => {
  it('splits by id span without statistics, covering the range exactly', () => {
    const parts = splitRange(r('0', '200000'), 4, { bounds: [], firstId: '1', rows: 200000 });
    expect(parts.map((p) => [p.afterId, p.toId])).toEqual([
      ['0', '50000'],
      ['50000', '100000'],
      ['100000', '150000'],
      ['150000', '200000'],
    ]);
    expect(parts.reduce((s, p) => s + p.estimatedRows, 0)).toBe(200000);
  });
  it('uses histogram bounds so skewed ids still give even partitions', () => {
    // Most rows are between 1 and 100; a few ids are huge.
    const bounds = ['1', '10', '20', '30', '40', '50', '60', '70', '80', '90', '1000000'];
    const parts = splitRange(r(null, '2000000'), 2, { bounds, firstId: '1', rows: 100 });
    expect(parts[0]).toMatchObject({ afterId: null, toId: '50' });
    expect(parts[1]).toMatchObject({ afterId: '50', toId: '2000000' });
  });
  it('starts an unbounded range below the first id', () => {
    const parts = splitRange(r(null, '10'), 2, { bounds: [], firstId: '1', rows: 10 });
    expect(parts).toEqual([
      { afterId: null, toId: '5', estimatedRows: 5 },
      { afterId: '5', toId: '10', estimatedRows: 5 },
    ]);
  });
  it('never makes more partitions than ids', () => {
    expect(splitRange(r('0', '2'), 8, { bounds: [], firstId: '1', rows: 2 })).toHaveLength(2);
    expect(splitRange(r('5', '5'), 3, { bounds: [], firstId: '1', rows: 0 })).toEqual([]);
  });
  it('handles int8 extremes', () => {
    const min = '-9223372036854775808';
    const parts = splitRange(r(null, BIG), 2, { bounds: [], firstId: min, rows: 4 });
    expect(parts).toHaveLength(2);
    expect(parts[0]!.afterId).toBeNull();
    expect(parts[1]!.toId).toBe(BIG);
    expect(BigInt(parts[0]!.toId)).toBe(-1n);
  });
  it('refuses a partition count below 1', () => {
    expect(() => splitRange(r('0', '10'), 0, { bounds: [], firstId: '1', rows: 10 })).toThrow(/at least 1/);
  });
});

describe('cursor bounds from users', () => {
  it('accepts exactly the integers an int8 holds', () => {
    expect(isCursorValue('-9223372036854775808')).toBe(true);
    expect(isCursorValue(BIG)).toBe(true);
    expect(isCursorValue('9223372036854775808')).toBe(false);
    expect(isCursorValue('1.5')).toBe(false);
    expect(isCursorValue('')).toBe(false);
  });
  it('names the bad bound, or the reversed pair', () => {
    expect(cursorBoundsError('1', '10')).toBeUndefined();
    expect(cursorBoundsError(undefined, 'x')).toBe('--to-id must be an integer cursor value, got "x"');
    expect(cursorBoundsError('10', '5')).toMatch(/^--from-id 10 is above --to-id 5/);
  });
  it('turns an inclusive start into an exclusive one, with nothing below int8 minimum', () => {
    expect(afterIdFor(undefined)).toBeNull();
    expect(afterIdFor('1')).toBe('0');
    expect(afterIdFor('-9223372036854775808')).toBeNull();
  });
});

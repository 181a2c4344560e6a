import { describe, expect, it } from 'vitest';
import { firstUnordered } from '../../activities/partial-chunk';
import { appendAll } from '../../core/arrays';

describe('appendAll', () => {
  it('appends more items than a spread call could pass as arguments', () => {
    const many = Array.from({ length: 300_000 }, (_, i) => i);
    expect(() => [0].push(...many)).toThrow(RangeError);
    const out = appendAll([-1], many);
    expect(out.length).toBe(300_001);
    expect(out[0]).toBe(-1);
    expect(out[300_000]).toBe(299_999);
  });
});

describe('firstUnordered', () => {
  it('finds text order among numeric ids', () => {
    expect(firstUnordered(['1', '9', '10', '10000'])).toBeUndefined();
    expect(firstUnordered(['1', '10', '10000', '9'])).toBe(3);
    expect(firstUnordered(['5', '5', '6'])).toBeUndefined();
    expect(firstUnordered([])).toBeUndefined();
  });
});

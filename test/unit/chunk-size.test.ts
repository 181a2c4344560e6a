import { describe, expect, it } from 'vitest';
import { EmptyHttpAnswer } from '../../core/errors';
import { chunkTooBigLimit, chunkTooBigMessage, isChunkTooBig, MIN_CHUNK_ROWS, smallerChunk } from '../../core/chunk-size';

describe('isChunkTooBig', () => {
  it.each([
    [{ code: '241', message: 'Memory limit (for query) exceeded: would use 84.50 MiB' }, 'memory'],
    [new Error('Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded'), 'memory'],
    [new Error('Code: 173, e.displayText() = DB::Exception: Cannot allocate memory'), 'memory'],
    [{ statusCode: 413, message: '' }, 'request size'],
    [new EmptyHttpAnswer(413), 'request size'],
    [new Error('413 Request Entity Too Large'), 'request size'],
  ])('%s is about size (%s)', (err, limit) => {
    expect(chunkTooBigLimit(err)).toBe(limit);
    expect(isChunkTooBig(err)).toBe(true);
  });

  it.each([
    [new Error('Code: 60, e.displayText() = DB::Exception: Table db.t does not exist')],
    [{ code: '53300', message: 'remaining connection slots are reserved' }],
    [{ code: 'ECONNRESET', message: 'socket hang up' }],
    [new Error('Code: 2410: not a real code')],
    [undefined],
    // The whole server's memory frees as other queries end: retried (core/errors.ts), not cut for good.
    [new Error('Code: 241, e.displayText() = DB::Exception: Memory limit (total) exceeded: would use 9.3 GiB')],
  ])('%s is not', (err) => {
    expect(isChunkTooBig(err)).toBe(false);
  });
});

describe('smallerChunk', () => {
  it('halves down to the floor, then stops', () => {
    const seen: number[] = [];
    for (let s: number | undefined = 500_000; s !== undefined; s = smallerChunk(s, 500_000)) seen.push(s);
    expect(seen[1]).toBe(250_000);
    expect(seen.at(-1)).toBe(MIN_CHUNK_ROWS);
    expect(seen.length).toBeLessThan(12);
  });

  it('never goes below a chunkRows smaller than the floor, and stops there at once', () => {
    expect(smallerChunk(200, 200)).toBeUndefined();
    expect(smallerChunk(1_500, 1_500)).toBe(1_000);
  });
});

it('the final error names the limit, the setting and what ClickHouse said, once', () => {
  const m = chunkTooBigMessage('public.t', 1000, 8000, 'ClickHouse: Code: 241, Memory limit (for query) exceeded');
  expect(m).toBe(
    'a chunk of 1000 rows of public.t (cut from 8000) is still too big for ClickHouse: raise max_memory_usage of the ClickHouse user in CLICKHOUSE_URL (its profile), ' +
      'or set chunkRows (--chunk-rows) below 1000; ClickHouse said: Code: 241, Memory limit (for query) exceeded',
  );
  expect(chunkTooBigMessage('t', 1000, 1000, '413 Request Entity Too Large')).toMatch(/^a chunk of 1000 rows of t is still too big for ClickHouse: raise the request size a server or proxy/);
});

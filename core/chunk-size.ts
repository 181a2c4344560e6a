/**
 * A chunk ClickHouse refuses because of its size (the query's memory limit,
 * a request body too large for a proxy) goes through if it is cut smaller.
 * The copy loop halves the chunk down to a floor; a table whose chunks fail
 * even then stops with an error naming the limit and the setting.
 */

/** Below this a chunk is not cut further, unless chunkRows asks for smaller ones itself. */
export const MIN_CHUNK_ROWS = 1000;

/** The failure type an insert too big for ClickHouse is reported with (matched by the workflow). */
export const CHUNK_TOO_BIG = 'ChunkTooBig';

/** ClickHouse MEMORY_LIMIT_EXCEEDED and CANNOT_ALLOCATE_MEMORY. */
const MEMORY_CODES = new Set([241, 173]);

function field(err: unknown, name: string): unknown {
  return (err as Record<string, unknown> | null | undefined)?.[name];
}

/** Which limit a too-big chunk hit, or undefined when the error is not about size. */
export function chunkTooBigLimit(err: unknown): 'memory' | 'request size' | undefined {
  const code = field(err, 'code');
  const message = String(field(err, 'message') ?? err ?? '');
  const chCode = typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : Number(/\bCode: (\d+)\b/.exec(message)?.[1] ?? NaN);
  // The whole server's memory ("total") frees as other queries end: that one is retried, not cut.
  if (/Memory limit \(total\) exceeded/i.test(message)) return undefined;
  if (MEMORY_CODES.has(chCode) || /Memory limit \((for query|for user)\) exceeded/i.test(message)) return 'memory';
  // An empty-bodied 413 arrives as EmptyHttpAnswer with its status.
  if (field(err, 'status') === 413 || field(err, 'statusCode') === 413 || /\b413\b.*(Payload|Entity) Too Large|Request Entity Too Large|Payload Too Large/i.test(message)) return 'request size';
  return undefined;
}

export function isChunkTooBig(err: unknown): boolean {
  return chunkTooBigLimit(err) !== undefined;
}

/** The next, smaller chunk size after `size` rows were too big, or undefined at the floor. */
export function smallerChunk(size: number, configured: number): number | undefined {
  const floor = Math.min(MIN_CHUNK_ROWS, configured);
  if (size <= floor) return undefined;
  return Math.max(floor, Math.floor(size / 2));
}

/** The error of a table whose chunks are too big even at the floor: the limit, and the settings that move it. */
export function chunkTooBigMessage(table: string, size: number, configured: number, reason: string): string {
  const limit = /request size|Too Large|413/i.test(reason)
    ? 'the request size a server or proxy in front of ClickHouse accepts'
    : 'max_memory_usage of the ClickHouse user in CLICKHOUSE_URL (its profile)';
  const cut = size < configured ? ` (cut from ${configured})` : '';
  return (
    `a chunk of ${size} rows of ${table}${cut} is still too big for ClickHouse: raise ${limit}, ` +
    `or set chunkRows (--chunk-rows) below ${size}; ClickHouse said: ${reason.replace(/^ClickHouse: /, '')}`
  );
}

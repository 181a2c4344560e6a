/**
 * What the CLI needs to parse its arguments and print --help, kept apart
 * from zod and the Temporal SDK so that `pg2ch --help` loads neither.
 * core/config.ts and workflows/backfill.ts re-export these.
 */

/**
 * Configuration comes from the environment only. Every value is checked at
 * start and a bad one is reported as one line naming the variable, so a typo
 * never surfaces later as an obscure connection error.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Largest chunk: below ClickHouse's max_insert_block_size (1,048,576 rows), so
 * a chunk is one insert block, written whole or not at all.
 */
export const MAX_CHUNK_ROWS = 1_000_000;

/** Positive integer option such as --chunk-rows; rejects 0, negatives and fractions. */
export function parsePositiveInt(name: string, raw: string, max = MAX_CHUNK_ROWS): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

/** A backfill's defaults: partitions sized from PostgreSQL statistics, and how many are copied at once. */
export const DEFAULT_PARTITIONS = 4;
export const DEFAULT_PARALLEL = 2;

import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { CHUNK_TOO_BIG, isChunkTooBig } from '../core/chunk-size';
import { classify, scrubbedLine } from '../core/errors';

/**
 * Every error leaving an activity goes through here: classified as retryable
 * or not, reduced to one readable line, and scrubbed of secrets before it is
 * written into workflow history. The original error is not attached as the
 * cause, since its fields could carry a connection string.
 */
export function toFailure(err: unknown, secrets: readonly string[]): Error {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  const c = classify(err, secrets);
  return c.retryable ? ApplicationFailure.retryable(c.message, c.type) : ApplicationFailure.nonRetryable(c.message, c.type);
}

/**
 * For the chunk copy: an insert too big for ClickHouse fails at once, not
 * retryable and typed ChunkTooBig, so the workflow copies the range in
 * smaller chunks instead of Temporal retrying the same size.
 */
export function toChunkFailure(err: unknown, secrets: readonly string[]): Error {
  if (!isChunkTooBig(err)) return toFailure(err, secrets);
  // ClickHouse's own words: the workflow adds the limit and the settings that move it.
  return ApplicationFailure.nonRetryable(scrubbedLine(err, secrets), CHUNK_TOO_BIG);
}

export function withFailures<A extends unknown[], R>(
  secrets: readonly string[],
  fn: (...args: A) => Promise<R>,
  convert: (err: unknown, secrets: readonly string[]) => Error = toFailure,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw convert(err, secrets);
    }
  };
}

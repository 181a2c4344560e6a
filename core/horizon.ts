import { decodePosition, encodePosition } from './keyset';

/**
 * Updated mode's late commits, the pure part (activities/horizon.ts reads
 * the facts). A transaction's now() is its start time, and it may commit
 * long after: its rows appear behind a watermark that runs in between have
 * passed. Before each chunk's snapshot, pg2ch reads the oldest start time of
 * the transactions open at that moment (pg_stat_activity.xact_start, which
 * covers transactions that have no xid yet); a transaction opened after that
 * read starts later than the read's clock. So every row a snapshot could not
 * see yet, stamped by its transaction's clock (now(), statement_timestamp(),
 * clock_timestamp(), triggers setting any of them), is stamped at or after
 *   horizon = min(read clock, oldest xact_start) - margin.
 * The next run starts at min(watermark, the smallest horizon of the previous
 * run's chunks whose range reaches it) instead of the watermark: rows still uncommitted then keep the
 * horizon back (their transactions are still open), committed ones are read.
 */

/** Covers the moment between a transaction taking its start time and publishing it in pg_stat_activity, and rounding. */
export const HORIZON_MARGIN_SECONDS = 1;

/**
 * Without the right to see other roles' transactions (pg_read_all_stats),
 * their start times are unknown: the horizon then goes this far back, and
 * the sync says so. Transactions open longer than this are not covered.
 */
export const HIDDEN_FALLBACK_SECONDS = 600;

const US = 1_000_000n;

export interface HorizonReading {
  /** The read's clock, microseconds since 1970 UTC. */
  at: string;
  /** The oldest xact_start among the transactions open at the read (other sessions, this database), or null when none. */
  oldest: string | null;
  /** Sessions of other roles whose transaction start this role cannot see. */
  hidden: number;
}

/** The horizon in microseconds: rows a snapshot taken after the reading could not see are stamped at or after it. */
export function horizonOf(r: HorizonReading, margin = HORIZON_MARGIN_SECONDS, fallback = HIDDEN_FALLBACK_SECONDS): string {
  let h = BigInt(r.at);
  if (r.oldest !== null && BigInt(r.oldest) < h) h = BigInt(r.oldest);
  if (r.hidden > 0 && BigInt(r.at) - BigInt(fallback) * US < h) h = BigInt(r.at) - BigInt(fallback) * US;
  return (h - BigInt(margin) * US).toString();
}

/**
 * What a chunk ending at `chunkEnd` (a keyset position) asks of the next
 * run: the rows it missed lie in its range and are stamped at or after the
 * horizon, so a horizon past the chunk's end time asks nothing (undefined).
 * A backlog's chunks, ending long before the read, thus cost no re-read.
 */
export function chunkHorizon(r: HorizonReading, chunkEnd: string): string | undefined {
  const h = horizonOf(r);
  return BigInt(h) <= BigInt(decodePosition(chunkEnd).micros) ? h : undefined;
}

/** The smaller of two horizons (microseconds); undefined stands for none. */
export function earlierHorizon(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return BigInt(a) <= BigInt(b) ? a : b;
}

/**
 * Where the next run starts: the watermark, or before every row at the
 * recorded horizon when that is earlier. Null watermark: from the start.
 */
export function resumePosition(watermark: string | null, horizon: string | null): string | null {
  if (watermark === null || horizon === null) return watermark;
  return BigInt(horizon) < BigInt(decodePosition(watermark).micros) ? encodePosition({ micros: horizon }) : watermark;
}

/**
 * A chunk ending at a time later than the read's clock (plus the margin) was
 * stamped by a clock other than PostgreSQL's: the horizon does not bound such
 * writers. Seconds ahead, or null when not ahead.
 */
export function secondsAhead(chunkEnd: string, at: string, margin = HORIZON_MARGIN_SECONDS): number | null {
  const ahead = BigInt(decodePosition(chunkEnd).micros) - BigInt(at);
  return ahead > BigInt(margin) * US ? Number(ahead / US) : null;
}

export function hiddenSessionsMessage(table: string, hidden: number): string {
  return (
    `${hidden} session${hidden === 1 ? '' : 's'} of other roles hide their transactions' start from pg2ch, so updates to ${table} committed late are looked for only ${HIDDEN_FALLBACK_SECONDS} s back; ` +
    `a transaction open longer can be missed. Grant the role pg2ch connects as pg_read_all_stats (GRANT pg_read_all_stats TO <role>), or run pg2ch verify ${table}`
  );
}

export function stampedAheadMessage(table: string, cursor: string, seconds: number): string {
  return (
    `rows of ${table} have ${cursor} up to ${seconds} s past PostgreSQL's clock: it is set by another clock (the application's), and an update stamped earlier than its transaction's start ` +
    `can be missed when it commits late; stamp it with now() in PostgreSQL (a default or trigger), set lookbackSeconds to cover the clocks' difference, or run pg2ch verify ${table}`
  );
}

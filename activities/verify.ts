import type { Context } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { chIdent, chQualified } from '../core/quote';
import { digestTsv, sameDigest, type RangeDigest } from '../core/row-digest';
import type { ChunkRange, TablePlan } from '../core/types';
import { chRangeWhere, wideReadSettings } from './clickhouse';
import type { ClickHouseTarget } from './deps';
import { chunkAfter, onConnection } from './postgres';
import { copyStatement } from './serialize';

export interface Mismatch {
  /** The smallest range found to differ: (afterId, toId]. */
  afterId: string | null;
  toId: string;
  postgres: RangeDigest;
  clickhouse: RangeDigest;
}

export interface VerifySegment {
  /** Where the next segment starts; equals the input's upTo when done. */
  position: string | null;
  done: boolean;
  rows: number;
  buckets: number;
  mismatches: Mismatch[];
}

/** A differing range is split until it holds at most this many rows, then reported. */
const NARROW_TO_ROWS = 100;
const NARROW_PARTS = 10;
/** Reported per segment at most: a destination that differs everywhere needs no more to be diagnosed. */
export const MAX_MISMATCHES = 100;

/**
 * A range's rows as PostgreSQL's COPY renders them for the insert, in the
 * documented forms: a database or role whose bytea_output is escape must not
 * make both sides agree on text that is not the hex form pg2ch stores.
 */
export async function pgRangeText(db: Pool | PoolClient, plan: TablePlan, range: ChunkRange): Promise<string> {
  return onConnection(db, async (client) => {
    await client.query(`SET bytea_output = 'hex'`);
    const chunks: Buffer[] = [];
    for await (const c of client.query(copyTo(copyStatement(plan, range)))) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  });
}

/** A range's rows as ClickHouse stores them, in the same columns. */
export async function chRangeText(ch: ClickHouseTarget, plan: TablePlan, range: ChunkRange): Promise<string> {
  const { database, table } = plan.destination;
  const rs = await ch.client.query({
    query: `SELECT ${plan.columns.map((c) => chIdent(c.name)).join(', ')} FROM ${chQualified(database, table)} WHERE ${chRangeWhere(plan.cursor, range)}`,
    format: 'TabSeparated',
    clickhouse_settings: wideReadSettings(plan.columns.length),
  });
  return rs.text();
}

/** The ClickHouse types of a plan's columns, and where its cursor is among them. */
export function rowShape(plan: TablePlan): { types: string[]; idIndex: number } {
  return { types: plan.columns.map((c) => c.chType), idIndex: plan.columns.findIndex((c) => c.name === plan.cursor) };
}

const pgDigest = async (pg: Pool, plan: TablePlan, range: ChunkRange) => digestOf(plan, await pgRangeText(pg, plan, range));
const chDigest = async (ch: ClickHouseTarget, plan: TablePlan, range: ChunkRange) => digestOf(plan, await chRangeText(ch, plan, range));

function digestOf(plan: TablePlan, text: string): RangeDigest {
  const { types, idIndex } = rowShape(plan);
  return digestTsv(types, idIndex, text);
}

/** (a, b] split into `parts` spans of about equal ids; a null start is the span's own first id - 1. */
function splitSpan(range: ChunkRange, firstId: bigint, parts: number): ChunkRange[] {
  const lo = range.afterId === null ? firstId - 1n : BigInt(range.afterId);
  const hi = BigInt(range.toId);
  const n = BigInt(Math.max(1, Math.min(parts, Number(hi - lo))));
  const out: ChunkRange[] = [];
  for (let i = 0n; i < n; i++) {
    const to = i === n - 1n ? hi : lo + ((hi - lo) * (i + 1n)) / n;
    out.push({ afterId: i === 0n ? range.afterId : String(lo + ((hi - lo) * i) / n), toId: String(to), rows: 0 });
  }
  return out;
}

/**
 * Compares PostgreSQL and ClickHouse over consecutive buckets of about
 * `bucketRows` rows from `afterId` up to `upTo`: count, smallest and largest
 * id, and an order-independent checksum of the row values. A bucket that
 * differs is narrowed into smaller ranges until the differing ones are small.
 */
export async function verifySegment(
  pg: Pool,
  ch: ClickHouseTarget,
  ctx: Context,
  input: { plan: TablePlan; afterId: string | null; upTo: string; bucketRows: number; maxBuckets: number },
): Promise<VerifySegment> {
  const { plan } = input;
  const mismatches: Mismatch[] = [];
  let rows = 0;
  let buckets = 0;
  let position = input.afterId;

  const narrow = async (range: ChunkRange, p: RangeDigest, c: RangeDigest, depth: number): Promise<void> => {
    if (mismatches.length >= MAX_MISMATCHES) return;
    const small = Math.max(p.rows, c.rows) <= NARROW_TO_ROWS || depth >= 20;
    if (small) {
      mismatches.push({ afterId: range.afterId, toId: range.toId, postgres: p, clickhouse: c });
      return;
    }
    const first = [p.minId, c.minId].filter((x): x is string => x !== null).map(BigInt);
    const parts = splitSpan(range, first.reduce((a, b) => (a < b ? a : b)), NARROW_PARTS);
    for (const part of parts) {
      ctx.heartbeat({ narrowing: part });
      const [pp, cc] = await Promise.all([pgDigest(pg, plan, part), chDigest(ch, plan, part)]);
      if (!sameDigest(pp, cc)) await narrow(part, pp, cc, depth + 1);
    }
  };

  while (buckets < input.maxBuckets) {
    if (position !== null && BigInt(position) >= BigInt(input.upTo)) return { position, done: true, rows, buckets, mismatches };
    // Buckets follow PostgreSQL's ids; the last one runs to upTo so rows only ClickHouse has are seen too.
    // (A bucket of a shared cursor value ends before the value that runs past bucketRows, so it can hold fewer.)
    const next = await chunkAfter(pg, plan.source, plan.cursor, position, input.bucketRows, input.upTo, plan.cursorShared === true);
    const range: ChunkRange = next && !next.last ? next.range : { afterId: position, toId: input.upTo, rows: next?.range.rows ?? 0 };
    const [p, c] = await Promise.all([pgDigest(pg, plan, range), chDigest(ch, plan, range)]);
    buckets++;
    rows += p.rows;
    if (!sameDigest(p, c)) await narrow(range, p, c, 0);
    position = range.toId;
    ctx.heartbeat({ position, rows });
  }
  return { position, done: position !== null && BigInt(position) >= BigInt(input.upTo), rows, buckets, mismatches };
}

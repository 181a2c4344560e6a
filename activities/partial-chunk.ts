import type { PoolClient } from 'pg';
import { appendAll } from '../core/arrays';
import { diffStored } from '../core/row-digest';
import type { ChunkRange, TablePlan } from '../core/types';
import { deleteRows } from './clickhouse';
import type { ClickHouseTarget } from './deps';
import { copyRows } from './late-commits';
import { idsInRange } from './postgres';
import { chRangeText, pgRangeText, rowShape } from './verify';

/** Rows compared at a time: both sides' text of this many rows is held at once. */
const COMPARE_ROWS = 10_000;

/**
 * Brings a chunk that a resumed run finds (partly) in ClickHouse to exactly
 * PostgreSQL's rows. A worker killed while a chunk streams into the old
 * server leaves what had arrived, committed; its last row may be cut short
 * inside its last field, which still parses. Rows that differ from
 * PostgreSQL's are deleted, then every row ClickHouse lacks is copied. Runs
 * in the chunk's snapshot, on its connection.
 */
export async function completeChunk(
  client: PoolClient,
  ch: ClickHouseTarget,
  plan: TablePlan,
  range: ChunkRange,
  heartbeat: () => void,
): Promise<{ replaced: number; added: number }> {
  const ids = await idsInRange(client, plan, range);
  // Pieces are cut at these ids: out of order, they would overlap and copy rows twice.
  const unordered = firstUnordered(ids);
  if (unordered !== undefined) throw new Error(`ids of ${plan.key} ${JSON.stringify(range)} came back out of order at ${ids[unordered]}`);
  const { types, idIndex } = rowShape(plan);
  const stale: string[] = [];
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += COMPARE_ROWS) {
    const last = i + COMPARE_ROWS >= ids.length;
    const part: ChunkRange = { afterId: i === 0 ? range.afterId : ids[i - 1]!, toId: last ? range.toId : ids[i + COMPARE_ROWS - 1]!, rows: 0 };
    const [source, stored] = await Promise.all([pgRangeText(client, plan, part), chRangeText(ch, plan, part)]);
    const diff = diffStored(types, idIndex, source, stored);
    appendAll(stale, diff.replace);
    appendAll(missing, diff.missing);
    heartbeat();
  }
  if (stale.length > 0) await deleteRows(ch, plan, stale, heartbeat);
  // Deleted rows are copied again with the missing ones.
  const added = missing.length + stale.length;
  await copyRows(client, ch, plan, appendAll(missing, stale), heartbeat);
  return { replaced: stale.length, added };
}

/** Index of the first id smaller than the one before it, if any. */
export function firstUnordered(ids: readonly string[]): number | undefined {
  for (let i = 1; i < ids.length; i++) if (BigInt(ids[i]!) < BigInt(ids[i - 1]!)) return i;
  return undefined;
}

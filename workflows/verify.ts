import { setCurrentDetails, setHandler, upsertMemo } from '@temporalio/workflow';
import type { Mismatch } from '../activities/verify';
import type { KeyVerifyResult } from '../activities/key-verify';
import { planVerify, repairRange, verifyByKey, verifySegment } from './activity-proxies';
import type { TableSettings } from '../core/table-settings';
import { detailsMarkdown, newTotals, progressOf, progressQuery, type Stage } from './progress';

export const DEFAULT_BUCKET_ROWS = 100_000;
/** Buckets per activity: bounds the work a crashed worker repeats. */
const BUCKETS_PER_SEGMENT = 20;
const MAX_REPORTED = 100;

export interface VerifyInput {
  table: string;
  /** Inclusive cursor bounds; default: everything synced so far. */
  fromId?: string;
  toId?: string;
  bucketRows?: number;
  /** Copy the rows ClickHouse lacks in each differing range, then compare those ranges again. */
  repair?: boolean;
  /** The table's settings from the config file. */
  settings?: TableSettings;
}

export interface VerifyResult {
  table: string;
  /** The range compared: (afterId, upTo]; upTo null: nothing synced and neither side has a row, so equal. */
  afterId: string | null;
  upTo: string | null;
  rows: number;
  buckets: number;
  equal: boolean;
  /** The smallest differing ranges found, at most 100 (after a repair: those still differing). */
  mismatches: Mismatch[];
  /** With repair: rows copied into ClickHouse. */
  repaired?: number;
  elapsedMs: number;
  /** Compared by row key (timestamp cursor, updated mode, CDC): what differs, by key. */
  byKey?: KeyVerifyResult;
}

/**
 * `pg2ch verify`: PostgreSQL and ClickHouse compared range by range, in the
 * worker (which holds the connections and, embedded, the engine itself).
 */
export async function verifyTable(input: VerifyInput): Promise<VerifyResult> {
  const totals = newTotals(Date.now());
  const live: { stage: Stage; currentRange: { afterId: string | null; toId: string } | null } = { stage: 'prepare', currentRange: null };
  const progress = () => progressOf('verify', input.table, totals, live, Date.now());
  setHandler(progressQuery, progress);
  const { plan, afterId, upTo, byKey } = await planVerify({ table: input.table, settings: input.settings, fromId: input.fromId, toId: input.toId });
  if (byKey) {
    live.stage = 'readChunk';
    const r = await verifyByKey({ plan, watermark: byKey.watermark, repair: input.repair });
    const differ = r.report.missing + r.report.extra + r.report.stale;
    live.stage = 'done';
    totals.rows = r.rows;
    upsertMemo({ rows: r.rows, equal: differ === 0, mismatches: differ });
    setCurrentDetails(`**verify of ${plan.key}** by key: ${differ === 0 ? 'equal' : `${differ} rows differ`} over ${r.rows} rows`);
    return { table: plan.key, afterId: null, upTo: null, rows: r.rows, buckets: r.buckets, equal: differ === 0, mismatches: [], elapsedMs: Date.now() - totals.startedAt, byKey: r };
  }
  const mismatches: Mismatch[] = [];
  let position = afterId;
  let buckets = 0;
  while (upTo !== null) {
    live.stage = 'readChunk';
    live.currentRange = { afterId: position, toId: upTo };
    const seg = await verifySegment({ plan, afterId: position, upTo, bucketRows: input.bucketRows ?? DEFAULT_BUCKET_ROWS, maxBuckets: BUCKETS_PER_SEGMENT });
    totals.rows += seg.rows;
    buckets += seg.buckets;
    totals.chunks = buckets;
    totals.lastId = seg.position;
    mismatches.push(...seg.mismatches.slice(0, MAX_REPORTED - mismatches.length));
    position = seg.position;
    setCurrentDetails(detailsMarkdown(progress()));
    if (seg.done) break;
  }
  let repaired: number | undefined;
  if (input.repair && mismatches.length > 0) {
    // Missing rows can be copied; a changed value or a row only ClickHouse has stays reported.
    repaired = 0;
    const still: Mismatch[] = [];
    for (const m of mismatches) {
      const range = { afterId: m.afterId, toId: m.toId, rows: 0 };
      repaired += await repairRange({ plan, range });
      const again = await verifySegment({ plan, afterId: m.afterId, upTo: m.toId, bucketRows: input.bucketRows ?? DEFAULT_BUCKET_ROWS, maxBuckets: 1_000_000 });
      still.push(...again.mismatches);
    }
    mismatches.splice(0, mismatches.length, ...still);
  }
  live.stage = 'done';
  live.currentRange = null;
  const result = { table: plan.key, afterId, upTo, rows: totals.rows, buckets, equal: mismatches.length === 0, mismatches, repaired, elapsedMs: Date.now() - totals.startedAt };
  upsertMemo({ rows: result.rows, equal: result.equal, mismatches: mismatches.length });
  setCurrentDetails(`**verify of ${plan.key}**: ${result.equal ? 'equal' : `${mismatches.length} ranges differ`} over ${result.rows} rows, ids (${afterId ?? 'start'}, ${upTo ?? 'end'}]`);
  return result;
}

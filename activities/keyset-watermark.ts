import type { Pool } from 'pg';
import { encodePosition } from '../core/keyset';
import type { TablePlan } from '../core/types';
import { readKeysetWatermark } from './clickhouse';
import type { ClickHouseTarget } from './deps';

/**
 * A timestamp cursor's watermark position: the latest checkpointed time and,
 * since several chunks may end at one time, the largest of their tiebreaks in
 * PostgreSQL's own order (text order would put '999' after '1000').
 */
export async function readKeysetPosition(pg: Pool, ch: ClickHouseTarget, plan: Pick<TablePlan, 'key' | 'keyset'>): Promise<string | null> {
  const found = await readKeysetWatermark(ch, plan.key);
  if (!found) return null;
  const r = await pg.query<{ k: string }>(`SELECT x AS k FROM unnest($1::text[]) x ORDER BY x::${plan.keyset!.tiebreakType} DESC LIMIT 1`, [found.keys]);
  return encodePosition({ micros: found.micros, key: r.rows[0]!.k });
}

import type { Pool } from 'pg';
import { SYNC_CONTROL } from '../core/ddl';
import { parseTableName, pgTableRef, tableKey } from '../core/table-name';
import { BACKFILL_ID_PREFIX } from '../core/workflow-ids';
import { decodePosition, describePosition, encodePosition } from '../core/keyset';
import { cursorChange, planWithRecorded, sourceRestart } from './watermark-guard';
import { buildPlan } from '../core/table-plan';
import { parseTableSettings, type TableSettings } from '../core/table-settings';
import type { TablePlan } from '../core/types';
import { followDestinationVersion, ordersByTimestamp, queryRows, readCovered, readWatermark, tableExists } from './clickhouse';
import { legacyVersionMessage } from '../core/copy-version';
import { readKeysetPosition } from './keyset-watermark';
import type { ClickHouseTarget } from './deps';
import { introspect, keysetPending, pendingAfter, planWhere } from './postgres';
import { chQualified, chString, pgIdent } from '../core/quote';
import { HORIZON_MARGIN_SECONDS, hiddenSessionsMessage, stampedAheadMessage } from '../core/horizon';
import { readHorizon } from './horizon';

export interface TableStatus {
  table: string;
  /** Last checkpointed cursor value of the incremental sync. */
  watermark: string | null;
  /** Epoch ms of the table's latest checkpoint (sync or backfill). */
  lastSyncAt: number | null;
  /** Rows in sync_control's checkpoints since the last reset. */
  rowsSynced: number;
  /** Largest cursor value in PostgreSQL now. */
  sourceMaxId: string | null;
  /** Rows in PostgreSQL past the watermark and not backfilled (estimated when many). */
  lagRows: number | null;
  /** Age of the oldest row not yet in ClickHouse, by its created_at; 0 when caught up; null without such a column. */
  lagSeconds: number | null;
  /** Why this table's status is incomplete (such as: the table is gone from PostgreSQL, or its ids restarted below the watermark). */
  error?: string;
  /** Something that may be wrong, such as the largest id in PostgreSQL being below the watermark. */
  warning?: string;
  /** A timestamp cursor's watermark: its time (ISO, UTC) and tiebreak; `watermark` shows both as text. */
  watermarkTime?: string;
  watermarkKey?: string;
}

/** Tables pg2ch has checkpoints for, from sync_control. */
async function knownTables(ch: ClickHouseTarget): Promise<string[]> {
  const rows = await queryRows<{ t: string }>(ch, `SELECT DISTINCT table_name AS t FROM ${chQualified(ch.database, SYNC_CONTROL)} ORDER BY t`);
  return rows.map((r) => r.t);
}

/** Read-only: never creates a table, on either side. */
export async function tableStatuses(
  pg: Pool,
  ch: ClickHouseTarget,
  tables: string[] | undefined,
  settings?: Record<string, TableSettings>,
  defaults: TableSettings = {},
): Promise<TableStatus[]> {
  const hasControl = await tableExists(ch, ch.database, SYNC_CONTROL);
  const keys = tables && tables.length > 0 ? tables.map((t) => tableKey(parseTableName(t))) : hasControl ? await knownTables(ch) : [];
  const out: TableStatus[] = [];
  for (const key of keys) {
    const status: TableStatus = { table: key, watermark: null, lastSyncAt: null, rowsSynced: 0, sourceMaxId: null, lagRows: null, lagSeconds: null };
    out.push(status);
    try {
      let covered: Awaited<ReturnType<typeof readCovered>> = [];
      const source = parseTableName(key);
      // Without settings given for it, the table is read with those it was last synced with.
      const given = settings === undefined ? undefined : { ...defaults, ...settings[key] };
      const plan = await followDestinationVersion(
        ch,
        await planWithRecorded(ch, key, given, async (s) => buildPlan(source, await introspect(pg, source), parseTableSettings(s), { caps: ch.caps, database: ch.database })),
      );
      if (ordersByTimestamp(plan)) status.warning = legacyVersionMessage(key, `${plan.destination.database}.${plan.destination.table}`, plan.cursor);
      // A timestamp cursor's watermark as a position; status shows it as people read it.
      let position: string | null = null;
      if (hasControl) {
        const changed = await cursorChange(ch, plan);
        if (changed !== null) throw new Error(changed);
        if (plan.keyset) {
          position = await readKeysetPosition(pg, ch, plan);
          if (position !== null) {
            status.watermark = describePosition(plan.keyset, position);
            const p = decodePosition(position);
            status.watermarkTime = describePosition(plan.keyset, encodePosition({ micros: p.micros }));
            status.watermarkKey = p.key;
          }
        } else status.watermark = await readWatermark(ch, key);
        covered = await readCovered(ch, key);
        const last = await queryRows<{ at: string; rows: string }>(
          ch,
          `SELECT toString(toUnixTimestamp(max(synced_at))) AS at, toString(sum(rows_copied)) AS rows
             FROM ${chQualified(ch.database, SYNC_CONTROL)} WHERE table_name = ${chString(key)} AND (workflow_id LIKE 'sync:%' OR workflow_id LIKE ${chString(BACKFILL_ID_PREFIX + '%')})`,
        );
        const at = Number(last[0]?.at ?? 0);
        status.lastSyncAt = at > 0 ? at * 1000 : null;
        status.rowsSynced = Number(last[0]?.rows ?? 0);
      }
      const ref = pgTableRef(source);
      if (plan.keyset) {
        await keysetLag(pg, position, plan, status);
        continue;
      }
      const { cursor } = plan;
      const c = pgIdent(cursor);
      const max = await pg.query<{ hi: string | null }>(`SELECT max(${c})::text AS hi FROM ${ref}`);
      status.sourceMaxId = max.rows[0]?.hi ?? null;
      // Rows numbered below the watermark are never copied: no lag to show, the fix instead.
      const restart = await sourceRestart(pg, plan, status.watermark);
      if (restart?.certain) throw new Error(restart.message);
      if (restart) status.warning = restart.message;
      const pending = await pendingAfter(pg, source, cursor, status.watermark, covered);
      status.lagRows = pending.rows;
      status.lagSeconds = await lagSeconds(pg, ref, cursor, pending.ranges[0]?.afterId ?? null, pending.rows);
    } catch (err) {
      status.error = (err as Error).message;
    }
  }
  return out;
}

/** Lag of a timestamp cursor: rows past the watermark position, and how old the oldest of them is. */
async function keysetLag(pg: Pool, after: string | null, plan: Pick<TablePlan, 'keyset' | 'cursor' | 'source' | 'mode' | 'key'>, status: TableStatus): Promise<void> {
  const t = pgIdent(plan.cursor);
  const ref = pgTableRef(plan.source);
  const r = await pg.query<{ hi: string | null; oldest: string | null }>(
    `SELECT max(${t})::text AS hi, extract(epoch FROM now() - (SELECT min(${t}) FROM ${ref} WHERE ${planWhere(plan, after)}))::float8::text AS oldest FROM ${ref}`,
  );
  status.sourceMaxId = r.rows[0]?.hi ?? null;
  status.lagRows = await keysetPending(pg, plan, after);
  const oldest = r.rows[0]?.oldest;
  status.lagSeconds = oldest === null || oldest === undefined ? 0 : Math.max(0, Math.round(Number(oldest)));
  if (plan.mode !== 'updated') return;
  // Added to a warning already there (a destination ordered by updated_at).
  const said = [status.warning, await uncoveredWriters(pg, plan)].filter((w): w is string => w !== undefined);
  status.warning = said.length > 0 ? said.join('; ') : undefined;
}

/**
 * Updated mode: what the late-commit horizon cannot bound (core/horizon.ts),
 * as it is now: sessions whose transaction start this role cannot see, and
 * rows stamped past PostgreSQL's clock (another clock sets the cursor).
 */
async function uncoveredWriters(pg: Pool, plan: Pick<TablePlan, 'key' | 'cursor' | 'source'>): Promise<string | undefined> {
  const reading = await readHorizon(pg);
  const t = pgIdent(plan.cursor);
  const r = await pg.query<{ ahead: string | null }>(
    `SELECT round(extract(epoch FROM (SELECT max(${t}) FROM ${pgTableRef(plan.source)}) - now()))::int8::text AS ahead`,
  );
  const ahead = Number(r.rows[0]?.ahead ?? 0);
  const said = [
    ...(reading.hidden > 0 ? [hiddenSessionsMessage(plan.key, reading.hidden)] : []),
    ...(ahead > HORIZON_MARGIN_SECONDS ? [stampedAheadMessage(plan.key, plan.cursor, ahead)] : []),
  ];
  return said.length > 0 ? said.join('; ') : undefined;
}

async function lagSeconds(pg: Pool, ref: string, cursor: string, afterId: string | null, lagRows: number): Promise<number | null> {
  if (lagRows === 0) return 0;
  const hasTime = await pg.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'created_at'
        AND atttypid IN ('timestamp'::regtype, 'timestamptz'::regtype) AND NOT attisdropped) AS ok`,
    [ref],
  );
  if (!hasTime.rows[0]?.ok) return null;
  const c = pgIdent(cursor);
  // The first row past the watermark by cursor: with ids that grow with time, the oldest one waiting.
  const r = await pg.query<{ s: string | null }>(
    `SELECT extract(epoch FROM now() - created_at)::float8::text AS s FROM ${ref}
      WHERE ${afterId === null ? `${c} IS NOT NULL` : `${c} > $1`} ORDER BY ${c} LIMIT 1`,
    afterId === null ? [] : [afterId],
  );
  const s = r.rows[0]?.s;
  return s === null || s === undefined ? null : Math.max(0, Math.round(Number(s)));
}

import type { Pool } from 'pg';
import { UserError } from '../core/errors';
import { pgIdent } from '../core/quote';
import { pgTableRef } from '../core/table-name';
import type { TablePlan } from '../core/types';
import { belowMessage, cursorChangedMessage, cursorConflict, restartedMessage, restartEvidence, type SequenceState } from '../core/watermark';
import { SYNC_CONTROL } from '../core/ddl';
import { parseTableSettings, type TableSettings } from '../core/table-settings';
import { readCheckpointCursors, readRecordedSettings, tableExists } from './clickhouse';
import type { ClickHouseTarget } from './deps';

/** The message when this table's checkpoints were written under another cursor than the plan's; null when not. */
export async function cursorChange(ch: ClickHouseTarget, plan: Pick<TablePlan, 'key' | 'cursor' | 'keyset' | 'destination'>): Promise<string | null> {
  if (!(await tableExists(ch, ch.database, SYNC_CONTROL))) return null;
  const recorded = cursorConflict(await readCheckpointCursors(ch, plan.key), plan);
  return recorded === null ? null : cursorChangedMessage(plan, recorded);
}

/**
 * The integer cursor's own sequence (serial or identity) and the value it
 * hands out next; null without one, with a decreasing one, or when the role
 * may not read it.
 */
async function cursorSequence(pg: Pool, plan: Pick<TablePlan, 'source' | 'cursor'>): Promise<SequenceState | null> {
  try {
    const found = await pg.query<{ seq: string | null }>(`SELECT pg_get_serial_sequence($1, $2) AS seq`, [pgTableRef(plan.source), plan.cursor]);
    const name = found.rows[0]?.seq;
    if (!name) return null;
    // The name comes from the catalog, quoted by PostgreSQL itself.
    const r = await pg.query<{ next: string; up: boolean }>(
      `SELECT (CASE WHEN s.is_called THEN s.last_value::numeric + p.seqincrement ELSE s.last_value END)::text AS next, p.seqincrement > 0 AS up
         FROM ${name} s, pg_sequence p WHERE p.seqrelid = $1::regclass`,
      [name],
    );
    const row = r.rows[0];
    return row && row.up ? { name, next: row.next } : null;
  } catch {
    return null;
  }
}

export interface RestartCheck {
  /** The sync must stop: rows the sequence numbers from now on are at or below the watermark. */
  certain: boolean;
  message: string;
}

/** Whether the source's ids went back below the watermark (see restartEvidence in core/watermark.ts). */
export async function sourceRestart(pg: Pool, plan: Pick<TablePlan, 'key' | 'cursor' | 'keyset' | 'destination' | 'source'>, watermark: string | null): Promise<RestartCheck | null> {
  if (watermark === null || plan.keyset) return null;
  const seq = await cursorSequence(pg, plan);
  const max = await pg.query<{ hi: string | null }>(`SELECT max(${pgIdent(plan.cursor)})::text AS hi FROM ${pgTableRef(plan.source)}`);
  const maxId = max.rows[0]?.hi ?? null;
  const evidence = restartEvidence(watermark, seq, maxId);
  if (evidence === 'sequence') return { certain: true, message: restartedMessage(plan, watermark, seq!) };
  if (evidence === 'below') return { certain: false, message: belowMessage(plan, watermark, maxId!) };
  return null;
}

/** The settings the table's latest checkpoint recorded, or null (never synced with any, or synced before they were recorded). */
export async function recordedSettings(ch: ClickHouseTarget, key: string): Promise<TableSettings | null> {
  if (!(await tableExists(ch, ch.database, SYNC_CONTROL))) return null;
  const raw = await readRecordedSettings(ch, key);
  return raw === null ? null : parseTableSettings(raw, `settings recorded for ${key} in ${ch.database}.${SYNC_CONTROL}`);
}

/**
 * Plans a command that reads what a sync wrote (verify, status): settings
 * given for the table win; without any, those of its last checkpoint. When
 * neither exist and the plan needs some, the error names the flag.
 */
export async function planWithRecorded<T>(ch: ClickHouseTarget, key: string, given: TableSettings | undefined, plan: (s: TableSettings | undefined) => Promise<T>): Promise<T> {
  const recorded = given !== undefined && Object.keys(given).length > 0 ? null : await recordedSettings(ch, key);
  try {
    return await plan(recorded ?? given);
  } catch (e) {
    if (recorded === null && e instanceof UserError && /^(MissingCursor|BadConfig)$/.test(e.type)) {
      throw new UserError(`${e.message}; no settings were given for ${key}, and none were recorded by an earlier sync: pass the config file it was synced with (--config <file>)`, e.type);
    }
    throw e;
  }
}

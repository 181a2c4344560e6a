import { chQualified } from './quote';
import type { TablePlan } from './types';

/**
 * Whether a table's watermark still means what the sync thinks it means.
 * Pure decisions; activities/watermark-guard.ts reads the facts.
 */

/**
 * What sync_control rows say about the cursor they were written under:
 * the cursor's name (cursor_name, recorded since this column exists), else
 * the kind inferred from the row, since rows written before it have no
 * name: a timestamp cursor's checkpoint always has last_key, an integer
 * one never.
 */
export const UNNAMED_INTEGER = '(integer)';
export const UNNAMED_TIMESTAMP = '(timestamp)';

type CursorOf = Pick<TablePlan, 'cursor' | 'keyset'>;

const kindOf = (plan: CursorOf) => (plan.keyset ? 'timestamp' : 'integer');

function describeRecorded(r: string): string {
  if (r === UNNAMED_INTEGER) return 'an integer cursor';
  if (r === UNNAMED_TIMESTAMP) return 'a timestamp cursor';
  return `cursor ${JSON.stringify(r)}`;
}

/** The recorded cursor that differs from the plan's, described; null when every checkpoint matches. */
export function cursorConflict(recorded: string[], plan: CursorOf): string | null {
  for (const r of recorded) {
    if (r === UNNAMED_INTEGER || r === UNNAMED_TIMESTAMP) {
      if ((r === UNNAMED_TIMESTAMP) !== !!plan.keyset) return describeRecorded(r);
    } else if (r !== plan.cursor) return describeRecorded(r);
  }
  return null;
}

/** The one-line fix when the destination has to be copied again from the start. */
function resyncHint(plan: Pick<TablePlan, 'key' | 'destination'>): string {
  return `DROP TABLE ${chQualified(plan.destination.database, plan.destination.table)} in ClickHouse, then run pg2ch sync ${plan.key}: it creates the table again and copies ${plan.key} from the start`;
}

export function cursorChangedMessage(plan: CursorOf & Pick<TablePlan, 'key' | 'destination'>, recorded: string): string {
  return (
    `the watermark of ${plan.key} in ClickHouse was written under ${recorded}, and this sync uses cursor ${JSON.stringify(plan.cursor)} (${kindOf(plan)}); ` +
    `a watermark does not carry over to another cursor, so nothing was copied. To sync by the new cursor: ${resyncHint(plan)}; ` +
    `to keep the old one, run with the settings ${plan.key} was synced with (--config)`
  );
}

export interface SequenceState {
  /** The sequence's name as PostgreSQL prints it (quoted where needed). */
  name: string;
  /** The value its next nextval() returns. */
  next: string;
}

/**
 * Has the source's integer cursor restarted below the watermark? Two facts
 * are read: the cursor's own sequence (serial or identity) and max(cursor).
 *
 * - `sequence`: the sequence's next value is at or below the watermark. A
 *   sequence never goes back by itself (deletes, updates, rollbacks and
 *   caching only skip values), so it was restarted (TRUNCATE ... RESTART
 *   IDENTITY, ALTER SEQUENCE ... RESTART, setval): every row it numbers from
 *   now on has an id the sync treats as copied. Certain, and seen even before
 *   a new row arrives; the sync stops.
 * - `below`: no sequence to ask, and PostgreSQL has rows but its largest id
 *   is below the watermark. Rows deleted at the end of the table look the
 *   same, and in append mode deleting is legitimate, so this is a warning.
 *   A row count is no evidence either way: deletes make PostgreSQL hold far
 *   fewer rows than were copied without anything being wrong.
 */
export function restartEvidence(watermark: string | null, seq: SequenceState | null, maxId: string | null): 'sequence' | 'below' | null {
  if (watermark === null) return null;
  if (seq !== null) return BigInt(seq.next) <= BigInt(watermark) ? 'sequence' : null;
  return maxId !== null && BigInt(maxId) < BigInt(watermark) ? 'below' : null;
}

export function restartedMessage(plan: Pick<TablePlan, 'key' | 'cursor' | 'destination'>, watermark: string, seq: SequenceState): string {
  return (
    `the ids of ${plan.key} restarted below the watermark: its sequence ${seq.name} numbers the next row ${seq.next}, and ClickHouse counts every ${plan.cursor} up to ${watermark} as copied ` +
    `(TRUNCATE ... RESTART IDENTITY, ALTER SEQUENCE ... RESTART or setval; or rows were inserted with ids past the sequence), so new rows would never be copied; nothing was copied. ` +
    `To copy ${plan.key} again: ${resyncHint(plan)}; or, to keep what ClickHouse has when no row since needs copying, move the sequence past the watermark: SELECT setval('${seq.name.replace(/'/g, "''")}', ${watermark})`
  );
}

export function belowMessage(plan: Pick<TablePlan, 'key' | 'cursor'>, watermark: string, maxId: string): string {
  return (
    `the largest ${plan.cursor} in PostgreSQL (${maxId}) is below the watermark ${watermark}: rows were deleted at the end of ${plan.key}, or its ids restarted ` +
    `(TRUNCATE ... RESTART IDENTITY); if they restarted, new rows up to ${watermark} are never copied: drop the ClickHouse table and sync again`
  );
}

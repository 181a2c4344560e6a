// Updated mode orders a row's versions by when pg2ch copied them, not by the
// row's own clock. A transaction that began earlier (older now(), so older
// updated_at) can commit last, after waiting on a row lock: PostgreSQL then
// holds the row with the OLDER updated_at, and ReplacingMergeTree(updated_at)
// would keep the newer-stamped stale copy. Instead every copy of rows (a
// chunk, a late-commit re-read, a repair) stamps each row with the xmax of
// the PostgreSQL snapshot it was read in, and the destination is
// ReplacingMergeTree(_version).
//
// Why that orders versions rightly: one workflow copies a table, one copy
// after another (updated mode has no parallel backfill), so each copy's
// snapshot is taken after every earlier copy's and sees the same or a newer
// committed version of every row. A snapshot's xmax (64-bit, epoch-extended:
// it never wraps) never decreases over time on one cluster, so a later copy's
// version is greater than or equal to an earlier one's. Ties (no transaction
// ended between two snapshots) go to the row inserted last, which
// ReplacingMergeTree keeps among equal versions: that is the later copy, whose
// snapshot is the newer one, so a tie also keeps the newer copy. A copy that
// outlives its retry (an attempt given up on but still inserting) carries
// its older version and loses, whatever order the inserts land in.
import type { TablePlan } from './types';

/** The ClickHouse-only column each copy stamps; `_pg2ch_version` when PostgreSQL has a `_version`. */
export const VERSION_COLUMN = '_version';
export const VERSION_COLUMN_ALT = '_pg2ch_version';
export const VERSION_TYPE = 'UInt64';

/**
 * The push path's version: read inside the copy's own statement, so it is the
 * xmax of exactly the snapshot the rows come from (an uncorrelated subquery:
 * evaluated once per statement, not per row). txid_ rather than pg_snapshot_
 * functions: the same 64-bit value, on servers older than 13 too.
 */
export const VERSION_SELECT = '(SELECT txid_snapshot_xmax(txid_current_snapshot()))';

/** The same value as a statement of its own, for the pull path (see pullVersion in activities/pull.ts). */
export const VERSION_QUERY = 'SELECT txid_snapshot_xmax(txid_current_snapshot())::text AS v';

type Versioned = Pick<TablePlan, 'columns' | 'layout'>;

/** The columns every copy inserts: the plan's, then the version column when the destination has one. */
export function copyColumnNames(plan: Versioned): string[] {
  const names = plan.columns.map((c) => c.name);
  return plan.layout.versionColumn ? [...names, plan.layout.versionColumn] : names;
}

/** The PostgreSQL select list of a push copy, matching copyColumnNames. */
export function copySelectList(plan: Versioned): string[] {
  const selects = plan.columns.map((c) => c.select);
  return plan.layout.versionColumn ? [...selects, VERSION_SELECT] : selects;
}

/**
 * A destination made before the version column: ReplacingMergeTree(<cursor>).
 * It keeps working as before, ordered by the row's timestamp.
 */
export function legacyLayout(plan: Pick<TablePlan, 'layout' | 'cursor'>): TablePlan['layout'] {
  const { versionColumn: _dropped, ...rest } = plan.layout;
  return { ...rest, version: plan.cursor };
}

/** Said once per table in the worker log, and by pg2ch status, for destinations ordered by the row's timestamp. */
export function legacyVersionMessage(key: string, table: string, cursor: string): string {
  return (
    `${table} (table ${key}) was created before pg2ch ordered updated rows by when it copied them: it is ReplacingMergeTree(${cursor}), ` +
    `so when PostgreSQL transactions commit out of order (an older ${cursor} committed last) it can keep a stale version of a row; ` +
    `to fix, drop ${table} in ClickHouse and the next sync rebuilds it with a _version column`
  );
}

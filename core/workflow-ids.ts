// Workflow ids are part of the contract with the Web UI and users' scripts:
// they name the table, and one id per table is the lock that keeps two
// copies of one table from running at once.

/** The table's sync slot: the incremental sync, or a backfill, never both. */
export function syncWorkflowId(key: string): string {
  return `sync:${key}`;
}

/** sync_control rows whose workflow_id starts so are a backfill's, not the watermark. */
export const BACKFILL_ID_PREFIX = 'backfill:';

/** One partition of a backfill, named by its cursor range (afterId, toId]. */
export function backfillPartitionId(key: string, afterId: string | null, toId: string): string {
  return `${BACKFILL_ID_PREFIX}${key}:${afterId ?? 'start'}-${toId}`;
}

/** A table's schedule, named like the workflow it starts. */
export function scheduleId(key: string): string {
  return `sync:${key}`;
}

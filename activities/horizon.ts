import type { Pool } from 'pg';
import type { HorizonReading } from '../core/horizon';

/**
 * The oldest transaction open in this database now (see core/horizon.ts).
 * Run in its own statement before a chunk's snapshot is taken, never inside
 * it: a transaction that commits between the snapshot and this read would
 * otherwise be gone from pg_stat_activity while its rows are missing from
 * the snapshot. statement_timestamp() is taken before the view is read.
 * Autovacuum never stamps rows; its long transactions would only hold the
 * horizon back. Other roles' sessions show no xact_start without
 * pg_read_all_stats; those in a transaction (every transaction holds its
 * virtualxid lock, which pg_locks shows to every role) are counted hidden.
 */
const HORIZON_SQL = `SELECT round(extract(epoch FROM statement_timestamp()) * 1000000)::int8::text AS at,
       round(extract(epoch FROM min(a.xact_start)) * 1000000)::int8::text AS oldest,
       (count(*) FILTER (WHERE a.xact_start IS NULL AND a.query = '<insufficient privilege>'
          AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'virtualxid')))::int AS hidden
  FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type IS DISTINCT FROM 'autovacuum worker'`;

export async function readHorizon(pg: Pool): Promise<HorizonReading> {
  const r = await pg.query<HorizonReading>(HORIZON_SQL);
  return r.rows[0]!;
}

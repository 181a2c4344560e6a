import { decideDdl, hostError, type ClusterHost, type HostState, type Wanted } from '../core/cluster-ddl';
import { UserError } from '../core/errors';
import { LOCAL_SUFFIX } from '../core/ddl';
import { chQualified, chString } from '../core/quote';
import type { ClickHouseTarget } from './deps';

/** How long ON CLUSTER DDL may wait for a host that went away after the check (the server's default is 180 s). */
export const CLUSTER_DDL_TIMEOUT_S = 60;

/** The hosts system.clusters lists for the cluster, shard by shard. */
export async function clusterHosts(ch: ClickHouseTarget, cluster: string): Promise<ClusterHost[]> {
  const rs = await ch.client.query({
    query: `SELECT shard_num AS s, replica_num AS r, host_address AS h, toString(port) AS p FROM system.clusters WHERE cluster = ${chString(cluster)} ORDER BY shard_num, replica_num`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ s: number; r: number; h: string; p: string }>();
  return rows.map((x) => ({ shard: Number(x.s), replica: Number(x.r), address: `${x.h.includes(':') ? `[${x.h}]` : x.h}:${x.p}` }));
}

/**
 * What each host holds of these databases, read from the host itself through
 * remote() with the worker's credentials: a host that is down answers with
 * its error, quickly (one connection try, one second).
 */
export async function hostStates(ch: ClickHouseTarget, hosts: ClusterHost[], database: string): Promise<HostState[]> {
  const auth = ch.remoteAuth ? `, ${chString(ch.remoteAuth.user)}, ${chString(ch.remoteAuth.password)}` : '';
  return Promise.all(
    hosts.map(async (host): Promise<HostState> => {
      const from = (t: string) => `remote(${chString(host.address)}, system, ${t}${auth})`;
      try {
        const rs = await ch.client.query({
          query: `SELECT 'd' AS k, name AS n FROM ${from('databases')} WHERE name = ${chString(database)}
            UNION ALL SELECT 't' AS k, concat(database, '.', name) AS n FROM ${from('tables')} WHERE database = ${chString(database)}`,
          format: 'JSONEachRow',
          clickhouse_settings: { connect_timeout_with_failover_ms: 1000, connections_with_failover_max_tries: '1', receive_timeout: 15 },
        });
        const rows = await rs.json<{ k: string; n: string }>();
        return {
          host,
          databases: new Set(rows.filter((r) => r.k === 'd').map((r) => r.n)),
          tables: new Set(rows.filter((r) => r.k === 't').map((r) => r.n)),
        };
      } catch (err) {
        return { host, error: hostError(err) };
      }
    }),
  );
}

/**
 * Runs `ddl` (CREATE ... IF NOT EXISTS ... ON CLUSTER statements, database
 * first) only when a host of the cluster lacks the database or one of the
 * tables; nothing at all when every reachable host has them, so a sync never
 * waits on a host that is down. Something missing while a host is down is one
 * clear error naming the host, not a three-minute wait.
 */
export async function ensureOnCluster(ch: ClickHouseTarget, cluster: string, wanted: Wanted, ddl: () => string[], hosts?: ClusterHost[]): Promise<'none' | 'created'> {
  const states = await hostStates(ch, hosts ?? (await clusterHosts(ch, cluster)), wanted.database);
  const decision = decideDdl(cluster, states, wanted);
  if (decision.kind === 'blocked') throw new UserError(decision.message, 'ClusterHostDown');
  if (decision.kind === 'none') return 'none';
  for (const query of ddl()) {
    await ch.client.command({ query, clickhouse_settings: { distributed_ddl_task_timeout: String(CLUSTER_DDL_TIMEOUT_S) } });
  }
  return 'created';
}

/** How long prepareTable waits for this replica to fetch what others wrote. */
export const CATCH_UP_MS = 15_000;

/**
 * SYSTEM SYNC REPLICA for each table, bounded: after a failover the
 * watermark and the chunks are read on a replica that may not have fetched
 * the other's last parts yet. Returns the tables that did not catch up in
 * time (a part only a down replica holds): the sync goes on, since a chunk
 * copied again is the same block and ZooKeeper's insert deduplication drops it.
 */
export async function catchUp(ch: ClickHouseTarget, database: string, names: string[], ms = CATCH_UP_MS): Promise<string[]> {
  // Only Replicated tables sync (a Distributed destination's local table is `<name>_local`).
  const rs = await ch.client.query({
    query: `SELECT name FROM system.tables WHERE database = ${chString(database)} AND engine LIKE 'Replicated%' AND name IN (${names.flatMap((n) => [n, n + LOCAL_SUFFIX]).map(chString).join(', ')})`,
    format: 'JSONEachRow',
  });
  const tables = (await rs.json<{ name: string }>()).map((r) => chQualified(database, r.name));
  const late: string[] = [];
  for (const table of tables) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ms);
    try {
      await ch.client.command({ query: `SYSTEM SYNC REPLICA ${table}`, abort_signal: abort.signal });
    } catch (err) {
      if (!abort.signal.aborted) throw err;
      late.push(table);
    } finally {
      clearTimeout(timer);
    }
  }
  return late;
}

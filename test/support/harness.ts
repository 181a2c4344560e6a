import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { expect, inject } from 'vitest';
import { readClickHouseConfig, readWorkerConfig, type WorkerConfig } from '../../core/config';
import { createPg2chWorker, type Pg2chWorker } from '../../worker/create-worker';
import './services';
import { routeWorkerLogs } from './worker-logs';

export type Target = 'server' | 'embedded';

export function services() {
  return inject('services');
}

/** The environment a user would set for this target; the test's own database and task queue keep files apart. */
export function envFor(target: Target, database: string, taskQueue: string): Record<string, string> {
  const s = services();
  return {
    PG_URL: s.pgUrl,
    ...(target === 'server' ? { CLICKHOUSE_URL: s.clickhouseUrl } : { PG2CH_CHDB_PATH: join(s.workDir, `chdb-${database}`) }),
    CLICKHOUSE_DATABASE: database,
    TEMPORAL_ADDRESS: s.temporalAddress,
    PG2CH_TASK_QUEUE: taskQueue,
    PG2CH_WORKFLOW_BUNDLE: s.workflowBundlePath,
  };
}

export interface RunningWorker {
  config: WorkerConfig;
  worker: Pg2chWorker;
  stop(): Promise<void>;
}

/** A real worker in this process, wired exactly as `pg2ch worker` wires it. */
export async function startWorker(env: Record<string, string>): Promise<RunningWorker> {
  const config = readWorkerConfig(env);
  routeWorkerLogs(expect.getState().testPath ?? 'worker', services().workDir);
  const worker = await createPg2chWorker(config, {
    workflowBundle: { code: readFileSync(services().workflowBundlePath, 'utf8') },
  });
  const running = worker.run();
  return {
    config,
    worker,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

export async function temporalClient(): Promise<Client> {
  const connection = await Connection.connect({ address: services().temporalAddress });
  return new Client({ connection });
}

export function pgPool(): pg.Pool {
  return new pg.Pool({ connectionString: services().pgUrl, max: 3, options: '-c TimeZone=UTC' });
}

/** A client of the ClickHouse server an env's CLICKHOUSE_URL names, for tests to look at what a sync wrote. */
export function serverClickHouse(env: Record<string, string>, settings?: ClickHouseSettings): ClickHouseClient {
  const cfg = readClickHouseConfig(env);
  if (cfg.kind !== 'server') throw new Error('expected a server');
  return createClient({ url: cfg.url, username: cfg.username, password: cfg.password, clickhouse_settings: settings });
}

/** The column `n` of a query's first row. */
export async function firstValue(ch: ClickHouseClient, query: string): Promise<string> {
  return (await (await ch.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n;
}

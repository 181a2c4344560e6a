import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ClickHouseTarget } from '../activities';
import { secretsOf, type WorkerConfig } from '../core/config';
import { classify } from '../core/errors';
import { temporalConnectionOptions } from '../core/tls';
import { connectClickHouse, createPgPool, resolvePgTls, withinTimeout } from './connections';
import { loadWorkflowBundle, type WorkflowBundleOption } from './workflow-bundle';
import type { MetricsServer } from './metrics-server';
import { tableStatuses } from '../activities/status';

export interface Pg2chWorker {
  worker: Worker;
  clickhouse: ClickHouseTarget;
  /** Where its workflow code came from (the bundle built at install, normally). */
  workflowSource: string;
  /** Runs until shutdown() (or a signal, with the CLI), then closes every connection. */
  run(): Promise<void>;
  shutdown(): void;
}

export interface WorkerOptions {
  workflowBundle?: WorkflowBundleOption;
  /** Where a one-line notice goes (a stale bundle being rebuilt); default stderr. */
  warn?: (line: string) => void;
  /** Reuse an already connected ClickHouse (the embedded engine allows one per process). */
  clickhouse?: ClickHouseTarget;
  afterInsert?: () => void;
  /** PG2CH_METRICS_ADDRESS: serve Prometheus metrics there (with the SDK's own from sdkMetricsUrl, see worker/runtime.ts). */
  metricsAddress?: string;
  sdkMetricsUrl?: string;
}

const TEMPORAL_CONNECT_TIMEOUT_MS = 15_000;

export class StartupError extends Error {}

async function step<T>(what: string, secrets: string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StartupError(`${what}: ${classify(err, secrets).message}`);
  }
}

export async function createPg2chWorker(config: WorkerConfig, opts: WorkerOptions = {}): Promise<Pg2chWorker> {
  // First: a taken port is said before any connection is tried.
  // Loaded only when asked for: prom-client costs every CLI start tens of ms.
  const metricsServer = opts.metricsAddress
    ? await (require('./metrics-server') as typeof import('./metrics-server')).startMetricsServer(opts.metricsAddress, opts.sdkMetricsUrl)
    : undefined;
  try {
    return await createWorkerServing(config, opts, metricsServer);
  } catch (err) {
    await metricsServer?.close();
    throw err;
  }
}

async function createWorkerServing(config: WorkerConfig, opts: WorkerOptions, metricsServer: MetricsServer | undefined): Promise<Pg2chWorker> {
  const secrets = secretsOf(config);
  const pgWhere = `${config.postgres.host}:${config.postgres.port}/${config.postgres.database}`;
  // sslmode allow/prefer become TLS or none here, once, for every connection of this worker.
  const postgres = await step(`cannot connect to PostgreSQL at ${pgWhere} (PG_URL)`, secrets, () => resolvePgTls(config.postgres));
  const pg = createPgPool(postgres);
  await step(`cannot connect to PostgreSQL at ${pgWhere} (PG_URL)`, secrets, () => pg.query('SELECT 1'));
  const chWhere = config.clickhouse.kind === 'server' ? `ClickHouse at ${(config.clickhouse.replicas ?? [config.clickhouse.url]).join(', ')} (CLICKHOUSE_URL)` : `the embedded ClickHouse in ${config.clickhouse.path} (PG2CH_CHDB_PATH)`;
  const clickhouse =
    opts.clickhouse ?? (await step(`cannot use ${chWhere}`, secrets, () => connectClickHouse(config.clickhouse)));
  const connection = await step(
    `cannot reach Temporal at ${config.temporal.address} (TEMPORAL_ADDRESS)`,
    secrets,
    // Bounded like ClickHouse's connect: an address that accepts and never answers must not hang the start.
    () => withinTimeout(TEMPORAL_CONNECT_TIMEOUT_MS, `no answer within ${TEMPORAL_CONNECT_TIMEOUT_MS / 1000} s`, NativeConnection.connect(temporalConnectionOptions(config.temporal))),
  );
  const loaded = opts.workflowBundle
    ? { bundle: opts.workflowBundle, source: 'given by the caller' }
    : await loadWorkflowBundle(process.env, opts.warn ?? ((line) => process.stderr.write(line + '\n')));
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: loaded.bundle,
    activities: createActivities({
      pg,
      pgSource: postgres,
      copyStrategy: config.copyStrategy,
      clickhouse,
      secrets,
      afterInsert: opts.afterInsert,
      metrics: metricsServer?.metrics,
    }),
    // Two cores: a couple of concurrent copies saturate them.
    maxConcurrentActivityTaskExecutions: 4,
    shutdownGraceTime: '10s',
  });
  // Lag and pending rows as `pg2ch status` computes them, for the tables this worker syncs.
  metricsServer?.setRefresh(async () => {
    const tables = metricsServer.metrics.tables();
    if (tables.length > 0) metricsServer.metrics.status(await tableStatuses(pg, clickhouse, tables));
  });
  return {
    worker,
    clickhouse,
    workflowSource: loaded.source,
    async run() {
      try {
        await worker.run();
      } finally {
        await connection.close().catch(() => {});
        await pg.end().catch(() => {});
        if (!opts.clickhouse) await clickhouse.client.close().catch(() => {});
        await metricsServer?.close();
      }
    },
    shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    },
  };
}

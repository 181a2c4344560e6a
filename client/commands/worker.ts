import { readObservabilityConfig, readWorkerConfig, secretsOf } from '../../core/config';
import { installRuntime } from '../../worker/runtime';
import { createPg2chWorker, StartupError } from '../../worker/create-worker';
import { UserError } from '../../core/errors';

/**
 * For crash tests only: PG2CH_TEST_CRASH_AFTER_INSERT=1 kills the worker the
 * moment a chunk is in ClickHouse and before its checkpoint, the worst place.
 */
function crashHook(env: NodeJS.ProcessEnv): (() => void) | undefined {
  if (env.PG2CH_TEST_CRASH_AFTER_INSERT !== '1') return undefined;
  return () => process.kill(process.pid, 'SIGKILL');
}

export async function runWorkerCommand(env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<void> {
  const config = readWorkerConfig(env);
  const obs = readObservabilityConfig(env);
  const { sdkMetricsUrl } = await installRuntime(obs, secretsOf(config));
  let w;
  try {
    w = await createPg2chWorker(config, { afterInsert: crashHook(env), metricsAddress: obs.metricsAddress, sdkMetricsUrl });
  } catch (err) {
    if (err instanceof StartupError) throw new UserError(err.message, 'StartupError');
    throw err;
  }
  const ch = config.clickhouse.kind === 'server' ? (config.clickhouse.replicas ?? [config.clickhouse.url]).join(', ') : `embedded (${config.clickhouse.path})`;
  out(
    `pg2ch worker on task queue ${config.temporal.taskQueue} at ${config.temporal.address}; ` +
      `ClickHouse ${w.clickhouse.caps.version} ${ch}, database ${config.clickhouse.database}; workflows from ${w.workflowSource}` +
      (obs.metricsAddress ? `; metrics on http://${obs.metricsAddress}/metrics` : ''),
  );
  // The SDK's runtime turns SIGINT/SIGTERM into a graceful shutdown: running
  // activities finish or are cancelled within shutdownGraceTime.
  await w.run();
  out('pg2ch worker stopped');
}

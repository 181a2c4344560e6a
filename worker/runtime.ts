import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { ObservabilityConfig } from '../core/config';
import { jsonLogLine } from '../core/log-line';
import { freePort } from '../devstack/free-port';

/** One JSON object per line on stderr, scrubbed of the secrets. */
export function jsonLogger(secrets: readonly string[], write: (line: string) => void = (l) => process.stderr.write(l + '\n')): DefaultLogger {
  return new DefaultLogger('INFO', (entry: LogEntry) =>
    write(jsonLogLine({ level: entry.level, timestampNanos: entry.timestampNanos, message: entry.message, meta: entry.meta }, secrets)),
  );
}

/**
 * Installs the Temporal runtime for the worker process when the environment
 * asks for JSON logs or metrics; otherwise the SDK's default (human logs on
 * stderr) stays as it was. Must run before any connection to Temporal.
 * Returns where the SDK serves its own metrics (a free port on 127.0.0.1),
 * for the metrics server to merge into its answer.
 */
export async function installRuntime(obs: ObservabilityConfig, secrets: readonly string[]): Promise<{ sdkMetricsUrl?: string }> {
  const json = obs.logFormat === 'json';
  if (!json && !obs.metricsAddress) return {};
  const sdkPort = obs.metricsAddress ? await freePort() : undefined;
  Runtime.install({
    ...(json ? { logger: jsonLogger(secrets) } : {}),
    telemetryOptions: {
      // The SDK's native side logs to the console by itself; forwarded, its lines are JSON too.
      ...(json ? { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } } : {}),
      ...(sdkPort ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}` } } } : {}),
    },
  });
  return sdkPort ? { sdkMetricsUrl: `http://127.0.0.1:${sdkPort}/metrics` } : {};
}

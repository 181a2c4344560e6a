import { Client, Connection } from '@temporalio/client';
import type { TemporalConfig } from '../core/config';
import { UserError } from '../core/errors';
import { temporalConnectionOptions } from '../core/tls';

export async function connectTemporal(cfg: TemporalConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnectionOptions(cfg), connectTimeout: '5s' });
  } catch (err) {
    // A TLS handshake the server refuses looks like a timeout to this client: the hint names the TLS settings.
    const hint = cfg.tls
      ? 'check TEMPORAL_ADDRESS and the TLS settings (TEMPORAL_TLS_CA_PATH for a private CA, TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH where the server asks for a client certificate, TEMPORAL_TLS_SERVER_NAME)'
      : 'start it (temporal server start-dev) or set TEMPORAL_ADDRESS (TEMPORAL_TLS=true if it takes TLS)';
    throw new UserError(`cannot reach Temporal at ${cfg.address}: ${(err as Error).message.split('\n')[0]}; ${hint}`, 'TemporalUnreachable');
  }
  return new Client({ connection, namespace: cfg.namespace });
}

/** Number of workers polling the task queue right now (0 means nothing will run). */
export async function pollerCount(client: Client, cfg: TemporalConfig): Promise<number> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: cfg.namespace,
    taskQueue: { name: cfg.taskQueue },
  });
  return res.pollers?.length ?? 0;
}

/** How long a command that needs a worker waits for one to show as polling. */
export const WORKER_WAIT_MS = 10_000;

/**
 * Whether a worker polls the task queue, waiting up to `waitMs` for one: a
 * worker just started, or one reconnecting after the Temporal server
 * restarted, takes a few seconds to show in the task queue's pollers.
 */
export async function workerPolling(client: Client, cfg: TemporalConfig, waitMs = WORKER_WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if ((await pollerCount(client, cfg).catch(() => 0)) > 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}

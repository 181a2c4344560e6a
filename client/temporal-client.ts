import { Client, Connection } from '@temporalio/client';
import type { TemporalConfig } from '../core/config';
import { UserError } from '../core/errors';

export async function connectTemporal(cfg: TemporalConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: cfg.address, connectTimeout: '5s' });
  } catch (err) {
    throw new UserError(
      `cannot reach Temporal at ${cfg.address}: ${(err as Error).message.split('\n')[0]}; start it (temporal server start-dev) or set TEMPORAL_ADDRESS`,
      'TemporalUnreachable',
    );
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

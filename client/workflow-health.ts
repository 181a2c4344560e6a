import type { Client, WorkflowHandle } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { TemporalConfig } from '../core/config';
import { UserError } from '../core/errors';
import { retryOf, type RetryInfo } from '../core/stall';
import { pollerCount } from './temporal-client';

/** What describe() of a running workflow says about why it may not move. */
export interface WorkflowHealth {
  taskQueue: string;
  /** Workers polling that task queue; null when Temporal did not say. */
  pollers: number | null;
  /** The activity Temporal is retrying, if one has failed. */
  retry?: RetryInfo;
}

export async function workflowHealth(client: Client, temporal: TemporalConfig, handle: WorkflowHandle): Promise<WorkflowHealth | undefined> {
  try {
    const d = await handle.describe();
    const pollers = await pollerCount(client, { ...temporal, taskQueue: d.taskQueue }).catch(() => null);
    const retry = retryOf(d.raw.pendingActivities ?? [], (p) => optionalTsToMs(p.lastAttemptCompleteTime));
    return { taskQueue: d.taskQueue, pollers, ...(retry ? { retry } : {}) };
  } catch {
    return undefined;
  }
}

/** A line about a workflow's task queue when it is not this command's or no worker polls it; undefined when all is well. */
export function queueProblem(workflowId: string, health: WorkflowHealth, temporal: TemporalConfig): string | undefined {
  const other = health.taskQueue !== temporal.taskQueue;
  if (health.pollers === 0) {
    return (
      `${workflowId} runs on task queue ${health.taskQueue}, where no worker polls` +
      (other ? ` (this command uses ${temporal.taskQueue}, from PG2CH_TASK_QUEUE)` : '') +
      `: start a worker with PG2CH_TASK_QUEUE=${health.taskQueue}, or end that run with: temporal workflow terminate --workflow-id ${workflowId}`
    );
  }
  if (other) return `${workflowId} runs on task queue ${health.taskQueue}, not ${temporal.taskQueue} (PG2CH_TASK_QUEUE); a worker polls it there`;
  return undefined;
}

/**
 * Joining a table's workflow that runs on another task queue where no worker
 * polls would wait forever: refuse with the queue's name. Another queue that
 * a worker serves is only noted. The same queue without a worker is warned
 * about by warnIfNoWorker, since a worker may be about to start.
 */
export async function assertServed(
  client: Client,
  temporal: TemporalConfig,
  handle: WorkflowHandle,
  warn: (line: string) => void,
  described?: Promise<{ taskQueue: string }>,
): Promise<void> {
  // Every sync --once starts here: the common case, this command's own queue, costs one describe() (the caller's, if given).
  const taskQueue = await (described ?? handle.describe()).then((d) => d.taskQueue, () => undefined);
  if (taskQueue === undefined || taskQueue === temporal.taskQueue) return;
  const health = await workflowHealth(client, temporal, handle);
  if (!health || health.taskQueue === temporal.taskQueue) return;
  const problem = queueProblem(handle.workflowId, health, temporal)!;
  if (health.pollers === 0) throw new UserError(problem, 'NoWorkerOnQueue');
  warn(`note: ${problem}`);
}

import type { ConfigFile } from '../../core/table-settings';
import type { Client } from '@temporalio/client';
import type { TableStatus } from '../../activities/status';
import type { TemporalConfig } from '../../core/config';
import { UserError } from '../../core/errors';
import { BACKFILL_ID_PREFIX, syncWorkflowId } from '../../core/workflow-ids';
import type { Progress } from '../../workflows/progress';
import { tableStatus } from '../../workflows/status';
import { failureMessage } from '../failure-message';
import { progressLine, queryProgress } from '../progress-view';
import { workerPolling } from '../temporal-client';
import { queueProblem, workflowHealth } from '../workflow-health';
import { retryLine, type RetryInfo } from '../../core/stall';
import { findSchedule } from './schedule';
import { keyOf } from './sync';

export interface RunningWorkflow {
  workflowId: string;
  type: string;
  startedAt: string;
  progress?: Progress;
  taskQueue?: string;
  /** Set when the workflow's task queue is not this command's, or no worker polls it. */
  queueProblem?: string;
  /** The activity Temporal is retrying for it. */
  retry?: RetryInfo;
}

export interface StatusReport extends TableStatus {
  running: RunningWorkflow[];
  schedule: { cadence: string; paused: boolean; next?: string } | null;
}

/** Watermark and lag come from a worker (it holds the database connections); the rest from Temporal. */
export async function readStatusReport(client: Client, temporal: TemporalConfig, table: string | undefined, config?: ConfigFile): Promise<StatusReport[]> {
  const key = table === undefined ? undefined : keyOf(table);
  if (!(await workerPolling(client, temporal))) {
    throw new UserError(`no worker is polling task queue ${temporal.taskQueue}, and status reads PostgreSQL and ClickHouse through one; start it with: pg2ch worker`, 'NoWorker');
  }
  let tables: TableStatus[];
  try {
    tables = await client.workflow.execute(tableStatus, {
      workflowId: `status:${key ?? 'all'}:${Date.now()}`,
      taskQueue: temporal.taskQueue,
      args: [{ tables: key ? [key] : undefined, ...(config ? { settings: Object.fromEntries(config.tables), defaults: config.defaults } : {}) }],
      workflowExecutionTimeout: '2m',
      staticSummary: `Status of ${key ?? 'all tables'}`,
    });
  } catch (err) {
    throw new UserError(`status of ${key ?? 'all tables'} failed: ${failureMessage(err)}`, 'StatusFailed');
  }
  const running: Array<RunningWorkflow & { table?: string }> = [];
  for await (const w of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) {
    const id = w.workflowId;
    const owner = id.startsWith('sync:') ? id.slice(5) : id.startsWith(BACKFILL_ID_PREFIX) ? id.slice(BACKFILL_ID_PREFIX.length).replace(/:[^:]*$/, '') : undefined;
    if (owner === undefined) continue;
    running.push({ workflowId: id, type: w.type, startedAt: w.startTime.toISOString(), table: owner });
  }
  const reports: StatusReport[] = [];
  for (const t of tables) {
    const mine = running.filter((r) => r.table === t.table).map(({ table: _t, ...r }) => r);
    for (const r of mine) {
      const handle = client.workflow.getHandle(r.workflowId);
      if (r.workflowId === syncWorkflowId(t.table)) r.progress = await queryProgress(handle);
      const health = await workflowHealth(client, temporal, handle);
      if (health) {
        r.taskQueue = health.taskQueue;
        const problem = queueProblem(r.workflowId, health, temporal);
        if (problem) r.queueProblem = problem;
        if (health.retry) r.retry = health.retry;
      }
    }
    const found = await findSchedule(client, t.table);
    const schedule = found && { cadence: found.cadence, paused: found.paused, next: found.nextRuns[0] };
    reports.push({ ...t, running: mine, schedule });
  }
  return reports;
}

const ago = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

export function formatStatus(reports: StatusReport[], now = Date.now()): string {
  if (reports.length === 0) return 'no table has been synced yet; start one with: pg2ch sync <table>';
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(r.table);
    if (r.error) lines.push(`  error: ${r.error}`);
    if (r.warning) lines.push(`  warning: ${r.warning}`);
    const last = r.lastSyncAt === null ? 'never synced' : `last sync ${new Date(r.lastSyncAt).toISOString()} (${ago(now - r.lastSyncAt)})`;
    lines.push(`  watermark: ${r.watermark ?? 'none'}; ${last}; ${r.rowsSynced} rows copied in all`);
    if (r.lagRows !== null) {
      lines.push(`  lag: ${r.lagRows} rows${r.lagSeconds === null ? '' : `, ${r.lagSeconds} s`} behind PostgreSQL (max id ${r.sourceMaxId ?? 'none'})`);
    }
    if (r.running.length === 0) lines.push('  running: nothing');
    for (const w of r.running) {
      lines.push(`  running: ${w.workflowId} (${w.type}) since ${w.startedAt}${w.progress ? `: ${progressLine(w.progress)}` : ''}`);
      if (w.queueProblem) lines.push(`    task queue: ${w.queueProblem}`);
      if (w.retry) lines.push(`    ${retryLine(w.retry)}`);
      if (w.progress?.lastProgressAt !== undefined) lines.push(`    last progress: ${new Date(w.progress.lastProgressAt).toISOString()} (${ago(now - w.progress.lastProgressAt)})`);
    }
    lines.push(
      r.schedule
        ? `  schedule: ${r.schedule.cadence}${r.schedule.paused ? ' (paused)' : ''}${r.schedule.next ? `, next ${r.schedule.next}` : ''}`
        : `  schedule: none (create one with: pg2ch schedule create ${r.table} --every 5m)`,
    );
  }
  return lines.join('\n');
}

import type { TableSettings } from '../../core/table-settings';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleHandle, type ScheduleOptions } from '@temporalio/client';
import type { TemporalConfig } from '../../core/config';
import { ConfigError } from '../../core/config';
import { UserError } from '../../core/errors';
import { keyOf } from './sync';
import { scheduleId } from '../../core/workflow-ids';
import { tableSearchAttributes } from '../../workflows/search-attributes';
import { DEFAULT_CHUNK_ROWS, scheduledSync } from '../../workflows/sync-table';
import { ensureSearchAttributes } from '../search-attributes';

export { scheduleId };

const warnOnStderr = (line: string) => process.stderr.write(line + '\n');

export interface Cadence {
  every?: string;
  cron?: string;
}

const DURATION = /^(\d+)(s|m|h|d)$/;

/** --every 5m | --cron "0 * * * *": exactly one, checked before anything is sent. */
export function cadenceSpec(c: Cadence): ScheduleOptions['spec'] {
  if (!!c.every === !!c.cron) throw new ConfigError('give exactly one of --every <duration> (such as 5m) or --cron "<expression>"');
  if (c.every) {
    const m = DURATION.exec(c.every);
    if (!m || Number(m[1]) < 1) throw new ConfigError(`--every must be a duration such as 30s, 5m, 1h or 1d, got ${JSON.stringify(c.every)}`);
    return { intervals: [{ every: c.every as `${number}${'s' | 'm' | 'h' | 'd'}` }] };
  }
  if (c.cron!.trim().split(/\s+/).length !== 5) {
    throw new ConfigError(`--cron must have five fields (minute hour day-of-month month day-of-week), got ${JSON.stringify(c.cron)}`);
  }
  return { cronExpressions: [c.cron!.trim()] };
}

/**
 * The Temporal server is the judge of a cadence (its cron dialect has ranges,
 * steps, names); the client turns its "Invalid schedule spec" into a
 * TypeError, which is a usage error naming the option, not a crash.
 */
function badCadence(err: unknown, c: Cadence): never {
  if (err instanceof TypeError && (c.cron || c.every)) {
    const option = c.cron ? `--cron ${JSON.stringify(c.cron)}` : `--every ${JSON.stringify(c.every)}`;
    throw new ConfigError(`${option} is not a valid cadence: ${err.message}`);
  }
  throw err;
}

export interface ScheduleSettings extends Cadence {
  chunkRows?: number;
  paused?: boolean;
  /** The table's settings from the config file, as they are when the schedule is created or updated. */
  settings?: TableSettings;
  /** How far back a run missed while Temporal was down is still started (once: overlap is SKIP). */
  catchupWindow?: string;
}

export const DEFAULT_CATCHUP_WINDOW = '10m';

function action(temporal: TemporalConfig, key: string, chunkRows: number, indexed: boolean, settings?: TableSettings): ScheduleOptions['action'] {
  return {
    type: 'startWorkflow',
    workflowType: scheduledSync,
    // Temporal appends the scheduled time; scheduledSync runs the sync under sync:<table>.
    workflowId: `scheduled:${key}`,
    taskQueue: temporal.taskQueue,
    args: [{ table: key, chunkRows, indexed, ...(settings ? { settings } : {}) }],
    staticSummary: `Scheduled sync of ${key}: starts sync:${key}, or is skipped while a sync or backfill of it runs`,
    memo: { table: key },
    ...tableSearchAttributes(key, indexed),
  };
}

export async function createSchedule(client: Client, temporal: TemporalConfig, table: string, s: ScheduleSettings): Promise<ScheduleHandle> {
  const key = keyOf(table);
  const catchupWindow = s.catchupWindow ?? DEFAULT_CATCHUP_WINDOW;
  if (!DURATION.test(catchupWindow)) throw new ConfigError(`--catchup-window must be a duration such as 10m, got ${JSON.stringify(catchupWindow)}`);
  try {
    return await client.schedule.create({
      scheduleId: scheduleId(key),
      spec: cadenceSpec(s),
      action: action(temporal, key, s.chunkRows ?? s.settings?.chunkRows ?? DEFAULT_CHUNK_ROWS, await ensureSearchAttributes(client, temporal.namespace, warnOnStderr), s.settings),
      // A sync still running when the next is due is not doubled: the next is skipped.
      policies: { overlap: 'SKIP', catchupWindow },
      state: { paused: !!s.paused, note: s.paused ? 'created paused' : undefined },
      memo: { table: key },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new UserError(`a schedule for ${key} exists already; change it with: pg2ch schedule update ${table}`, 'ScheduleExists');
    }
    badCadence(err, s);
  }
}

async function existing(client: Client, table: string): Promise<{ key: string; handle: ScheduleHandle; description: ScheduleDescription }> {
  const key = keyOf(table);
  const handle = client.schedule.getHandle(scheduleId(key));
  try {
    return { key, handle, description: await handle.describe() };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      throw new UserError(`there is no schedule for ${key}; create one with: pg2ch schedule create ${table} --every 5m`, 'ScheduleNotFound');
    }
    throw err;
  }
}

export async function updateSchedule(client: Client, temporal: TemporalConfig, table: string, s: ScheduleSettings): Promise<void> {
  const { key, handle } = await existing(client, table);
  const spec = s.every || s.cron ? cadenceSpec(s) : undefined;
  const indexed = await ensureSearchAttributes(client, temporal.namespace, warnOnStderr);
  await handle.update((prev) => {
    const prevArgs = prev.action.type === 'startWorkflow' ? (prev.action.args as Array<{ chunkRows?: number }> | undefined) : undefined;
    const chunkRows = s.chunkRows ?? s.settings?.chunkRows ?? prevArgs?.[0]?.chunkRows ?? DEFAULT_CHUNK_ROWS;
    return {
      ...prev,
      spec: spec ?? prev.spec,
      action: action(temporal, key, chunkRows, indexed, s.settings),
      policies: { ...prev.policies, ...(s.catchupWindow ? { catchupWindow: s.catchupWindow } : {}) },
    };
  }).catch((err: unknown) => badCadence(err, s));
}

export async function pauseSchedule(client: Client, table: string, paused: boolean, note?: string): Promise<void> {
  const { handle } = await existing(client, table);
  if (paused) await handle.pause(note ?? 'paused with pg2ch schedule pause');
  else await handle.unpause(note ?? 'unpaused with pg2ch schedule unpause');
}

/** Starts a run now; skipped, like any scheduled run, while a sync of the table is running. */
export async function triggerSchedule(client: Client, table: string): Promise<void> {
  const { handle } = await existing(client, table);
  await handle.trigger('SKIP');
}

export async function deleteSchedule(client: Client, table: string): Promise<void> {
  const { handle } = await existing(client, table);
  await handle.delete();
}

export interface ScheduleSummary {
  table: string;
  scheduleId: string;
  cadence: string;
  paused: boolean;
  note?: string;
  nextRuns: string[];
  runsStarted: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
  running: string[];
  recent: Array<{ scheduledAt: string; workflowId: string }>;
}

export async function describeSchedule(client: Client, table: string): Promise<ScheduleSummary> {
  const { key, description: d } = await existing(client, table);
  return summarize(key, d);
}

/** The table's schedule, or null when it has none. */
export async function findSchedule(client: Client, key: string): Promise<ScheduleSummary | null> {
  try {
    return summarize(key, await client.schedule.getHandle(scheduleId(key)).describe());
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

function summarize(key: string, d: ScheduleDescription): ScheduleSummary {
  const cadence = [
    ...(d.spec.intervals ?? []).map((i) => `every ${typeof i.every === 'number' ? `${i.every / 1000}s` : i.every}`),
    ...(d.spec.calendars ?? []).map((c) => `calendar ${JSON.stringify(c)}`),
  ].join(', ');
  return {
    table: key,
    scheduleId: d.scheduleId,
    cadence,
    paused: d.state.paused,
    note: d.state.note,
    nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
    runsStarted: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    recent: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
  };
}

export async function listSchedules(client: Client): Promise<Array<{ scheduleId: string; paused: boolean; next?: string }>> {
  const out: Array<{ scheduleId: string; paused: boolean; next?: string }> = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('sync:')) continue;
    out.push({ scheduleId: s.scheduleId, paused: s.state.paused, next: s.info.nextActionTimes[0]?.toISOString() });
  }
  return out;
}

export function formatSummary(s: ScheduleSummary): string {
  return [
    `schedule ${s.scheduleId}: ${s.cadence}${s.paused ? ` (paused${s.note ? `: ${s.note}` : ''})` : ''}`,
    `  runs started ${s.runsStarted}, skipped while one was running ${s.skippedOverlap}, missed the catch-up window ${s.missedCatchupWindow}`,
    `  next: ${s.nextRuns.join(', ') || 'none'}`,
    `  running: ${s.running.join(', ') || 'none'}`,
  ].join('\n');
}

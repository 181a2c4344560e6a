import type { Client, WorkflowHandle } from '@temporalio/client';
import { ConfigError, type TemporalConfig } from '../../core/config';
import { settingsFor, type ConfigFile, type TableSettings } from '../../core/table-settings';
import { DEFAULT_CONFIG_FILES } from '../config-file';
import { UserError } from '../../core/errors';
import { parseTableName, tableKey } from '../../core/table-name';
import { syncWorkflowId } from '../../core/workflow-ids';
import { describeCursorValue, positionFields } from '../../core/keyset';
import { DEFAULT_CHUNK_ROWS, syncTable, type SyncResult } from '../../workflows/sync-table';
import { failureMessage } from '../failure-message';
import { followProgress, throughput, type ProgressMode } from '../progress-view';
import { ensureSearchAttributes } from '../search-attributes';
import { pollerCount } from '../temporal-client';
import { assertServed, workflowHealth } from '../workflow-health';
import { stallWarnAfterMs } from '../../core/stall';
import { tableSearchAttributes } from '../../workflows/search-attributes';

export { syncWorkflowId };

export interface SyncOptions {
  once: boolean;
  chunkRows?: number;
  /** How --once shows progress; default: plain lines. */
  progress?: ProgressMode;
  /** The table's settings from the config file. */
  settings?: TableSettings;
  /** With --once: warn when nothing moved for this long (PG2CH_STALL_WARN_AFTER). */
  stallAfterMs?: number;
}

/** A table argument's key; a malformed name is a usage error (exit 2), found before anything runs. */
export function keyOf(table: string): string {
  try {
    return tableKey(parseTableName(table));
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/**
 * sync:<table> is the table's one copy slot. When it is held by another kind
 * of workflow (a backfill holding it for a sync, or the reverse), say so
 * instead of waiting on a result of the wrong kind.
 */
export async function assertHolder(
  handle: WorkflowHandle,
  key: string,
  expected: 'syncTable' | 'backfillTable',
  described?: Promise<{ type: string }>,
): Promise<void> {
  const { type } = await (described ?? handle.describe());
  if (type === expected) return;
  const what = type === 'backfillTable' ? 'a backfill' : 'an incremental sync';
  const then = expected === 'syncTable' ? 'the sync continues after it' : 'start the backfill when it ends';
  throw new UserError(
    `${what} of ${key} is running as workflow ${handle.workflowId}; ${then} (watch it with: pg2ch status ${key})`,
    'TableBusy',
  );
}

export async function warnIfNoWorker(client: Client, temporal: TemporalConfig, out: (line: string) => void): Promise<void> {
  if ((await pollerCount(client, temporal).catch(() => 1)) === 0) {
    out(`warning: no worker is polling task queue ${temporal.taskQueue}; start one with: pg2ch worker`);
  }
}

/** Starts sync:<table> (or joins the one running) and returns its handle. */
async function launchSync(client: Client, temporal: TemporalConfig, key: string, opts: SyncOptions, warn: (line: string) => void): Promise<WorkflowHandle<typeof syncTable>> {
  const indexed = await ensureSearchAttributes(client, temporal.namespace, warn);
  const workflowId = syncWorkflowId(key);
  const chunkRows = opts.chunkRows ?? opts.settings?.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const handle = await client.workflow.start(syncTable, {
    workflowId,
    taskQueue: temporal.taskQueue,
    args: [{ table: key, chunkRows, indexed, ...(opts.settings && Object.keys(opts.settings).length > 0 ? { settings: opts.settings } : {}) }],
    // A sync of this table already running is joined, never doubled.
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `Incremental sync of ${key}`,
    staticDetails: `Copies the rows of PostgreSQL table ${key} past its watermark into ClickHouse, chunk by chunk (${chunkRows} rows).`,
    memo: { table: key },
    ...tableSearchAttributes(key, indexed),
  });
  // One describe() answers both: which kind of workflow holds the slot, and on which task queue.
  const described = handle.describe();
  await assertHolder(handle, key, 'syncTable', described);
  await assertServed(client, temporal, handle, warn, described);
  warn(`workflow ${workflowId} (run ${handle.firstExecutionRunId}) on task queue ${temporal.taskQueue}`);
  return handle;
}

export async function startSync(
  client: Client,
  temporal: TemporalConfig,
  table: string,
  opts: SyncOptions,
  out: (line: string) => void,
  warn: (line: string) => void = out,
): Promise<SyncResult | undefined> {
  const key = keyOf(table);
  const handle = await launchSync(client, temporal, key, opts, warn);
  // Asked while the result is awaited: a table already caught up does not wait for this round trip first.
  const workerCheck = warnIfNoWorker(client, temporal, warn);
  if (!opts.once) return workerCheck.then(() => undefined);
  const stallAfterMs = opts.stallAfterMs ?? stallWarnAfterMs(process.env);
  try {
    const [result] = await Promise.all([
      followProgress(handle, handle.result(), opts.progress ?? 'plain', out, { health: () => workflowHealth(client, temporal, handle), stallAfterMs }),
      workerCheck,
    ]);
    return result;
  } catch (err) {
    throw new UserError(`sync of ${key} failed: ${failureMessage(err)}`, 'SyncFailed');
  }
}

export type TableOutcome = { table: string; result: SyncResult } | { table: string; error: string };

/**
 * `pg2ch sync --all`: one workflow per table of the config file, started
 * together; a table that fails (to start, or later) is reported and the
 * others go on. With --once, waits for every one and reports each.
 */
export async function syncAll(
  client: Client,
  temporal: TemporalConfig,
  config: ConfigFile | undefined,
  opts: Omit<SyncOptions, 'settings'>,
  report: (outcome: TableOutcome) => void,
  warn: (line: string) => void,
): Promise<TableOutcome[]> {
  if (!config) {
    throw new ConfigError(`--all syncs the tables of the config file, and there is none here: create ${DEFAULT_CONFIG_FILES.slice(0, 2).join(' or ')} with a tables section, or name one with --config`);
  }
  if (config.tables.size === 0) throw new ConfigError(`${config.path} lists no tables: add them under "tables" to sync them with --all`);
  const outcomes: TableOutcome[] = [];
  const running: Array<{ table: string; handle: WorkflowHandle<typeof syncTable> }> = [];
  for (const key of config.tables.keys()) {
    // Streamed by pg2ch cdc start, not copied by sync.
    if (settingsFor(config, key).mode === 'cdc') continue;
    try {
      running.push({ table: key, handle: await launchSync(client, temporal, key, { ...opts, settings: settingsFor(config, key) }, warn) });
    } catch (err) {
      const outcome = { table: key, error: failureMessage(err) };
      outcomes.push(outcome);
      report(outcome);
    }
  }
  await warnIfNoWorker(client, temporal, warn);
  if (!opts.once) return outcomes;
  await Promise.all(
    running.map(async ({ table, handle }) => {
      let outcome: TableOutcome;
      try {
        outcome = { table, result: await handle.result() };
      } catch (err) {
        outcome = { table, error: failureMessage(err) };
      }
      outcomes.push(outcome);
      report(outcome);
    }),
  );
  return outcomes;
}

export function formatResult(r: SyncResult): string {
  const skipped = r.skippedChunks ? `, ${r.skippedChunks} already present` : '';
  const late = r.lateRows ? ` (${r.lateRows} committed late behind the watermark)` : '';
  // A timestamp cursor's position reads as its time and tiebreak.
  const last = r.lastId?.includes(':') ? `last position ${describeCursorValue(r.lastId)}` : `last id ${r.lastId ?? 'none'}`;
  return `synced ${r.table}: ${r.rows} rows copied${late} in ${r.chunks} chunks${skipped}, ${last}, ${throughput(r.rows, r.elapsedMs)}`;
}

/** The result as --json prints it: every field of the workflow's, plus lastTime and lastKey for a timestamp cursor. */
export function resultJson(r: SyncResult): string {
  return JSON.stringify({ type: 'result', ...r, ...positionFields(r.lastId, { time: 'lastTime', key: 'lastKey' }) });
}

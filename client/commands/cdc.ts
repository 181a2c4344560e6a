import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { cdcStreams, cdcWorkflowId, checkStreamName } from '../../core/cdc';
import type { TemporalConfig } from '../../core/config';
import { ConfigError } from '../../core/config';
import { UserError } from '../../core/errors';
import type { ConfigFile } from '../../core/table-settings';
import { cdcDropStream, cdcStateQuery, cdcStatusWorkflow, cdcStopSignal, cdcStream, type CdcStreamInput } from '../../workflows/cdc';
import { formatStreamStatus, type StreamStatus } from '../../core/cdc';
import { randomUUID } from 'node:crypto';
import { failureMessage } from '../failure-message';
import { warnIfNoWorker } from './sync';

/** How long `cdc start` waits for the stream's setup (checks, slot, first copies) before it says so and returns. */
const PREPARE_WAIT_MS = 10 * 60_000;

function streamsToStart(config: ConfigFile | undefined, only?: string): Map<string, CdcStreamInput['tables']> {
  const all = cdcStreams(config);
  if (all.size === 0) {
    throw new ConfigError(`no table has mode cdc${config ? ` in ${config.path}` : ' (there is no config file here)'}: set mode: cdc for the tables to stream, e.g. tables: {orders: {mode: cdc}} in pg2ch.config.yaml`);
  }
  if (only === undefined) return all;
  checkStreamName(only);
  const tables = all.get(only);
  if (!tables) throw new ConfigError(`no table of the config file is in stream ${only}: set stream: ${only} beside mode: cdc (streams there: ${[...all.keys()].join(', ')})`);
  return new Map([[only, tables]]);
}

export interface CdcStartOptions {
  stream?: string;
  batch?: CdcStreamInput['batch'];
  readMs?: number;
  idleCheckpointMs?: number;
}

/** `pg2ch cdc start`: one workflow cdc:<stream> per stream, joined when running; waits until each streams or fails. */
export async function startCdc(client: Client, temporal: TemporalConfig, config: ConfigFile | undefined, opts: CdcStartOptions, out: (line: string) => void): Promise<void> {
  const streams = streamsToStart(config, opts.stream);
  for (const [stream, tables] of streams) {
    const workflowId = cdcWorkflowId(stream);
    const handle = await client.workflow.start(cdcStream, {
      workflowId,
      taskQueue: temporal.taskQueue,
      args: [{ stream, tables, ...(opts.batch ? { batch: opts.batch } : {}), ...(opts.readMs ? { readMs: opts.readMs } : {}), ...(opts.idleCheckpointMs ? { idleCheckpointMs: opts.idleCheckpointMs } : {}) }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `CDC stream ${stream}`,
      staticDetails: `Streams every change of ${tables.map((t) => t.table).join(', ')} from PostgreSQL's logical replication (slot pg2ch_${stream}) into ClickHouse.`,
    });
    await warnIfNoWorker(client, temporal, out);
    const deadline = Date.now() + PREPARE_WAIT_MS;
    for (;;) {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') {
        try {
          await handle.result();
        } catch (err) {
          throw new UserError(`stream ${stream} failed: ${failureMessage(err)}`, 'CdcFailed');
        }
        throw new UserError(`stream ${stream} ended (${d.status.name}); run pg2ch cdc start again`, 'CdcFailed');
      }
      const state = await handle.query(cdcStateQuery).catch(() => undefined);
      if (state?.phase === 'streaming') {
        out(`stream ${stream}: streaming ${state.tables.join(', ')} (workflow ${workflowId}, slot pg2ch_${stream})`);
        break;
      }
      if (Date.now() > deadline) {
        out(`stream ${stream}: still preparing (first copies) after ${PREPARE_WAIT_MS / 60_000} min; follow it with pg2ch status`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function runningStreams(client: Client, config: ConfigFile | undefined, only?: string): Promise<string[]> {
  if (only !== undefined) return [checkStreamName(only)];
  const names = [...cdcStreams(config).keys()];
  if (names.length === 0) throw new ConfigError('name the stream with --stream, or run this where the config file lists the mode cdc tables');
  return names;
}

/** `pg2ch cdc stop`: the stream writes and checkpoints what committed, then ends; the slot stays (changes wait in it). */
export async function stopCdc(client: Client, config: ConfigFile | undefined, only: string | undefined, out: (line: string) => void): Promise<void> {
  for (const stream of await runningStreams(client, config, only)) {
    const handle = client.workflow.getHandle(cdcWorkflowId(stream));
    try {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') {
        out(`stream ${stream} is not running`);
        continue;
      }
      await handle.signal(cdcStopSignal);
      await handle.result();
      out(`stream ${stream} stopped; its slot keeps the changes until pg2ch cdc start (or pg2ch cdc drop removes it)`);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) out(`stream ${stream} is not running`);
      else throw new UserError(`stream ${stream} did not stop cleanly: ${failureMessage(err)}`, 'CdcFailed');
    }
  }
}

/** `pg2ch cdc drop`: stops the stream, then removes its slot and publication. ClickHouse tables are left as they are. */
export async function dropCdc(client: Client, temporal: TemporalConfig, config: ConfigFile | undefined, only: string | undefined, out: (line: string) => void): Promise<void> {
  await stopCdc(client, config, only, () => {});
  for (const stream of await runningStreams(client, config, only)) {
    const handle = await client.workflow.start(cdcDropStream, {
      workflowId: `cdc-drop:${stream}`,
      taskQueue: temporal.taskQueue,
      args: [{ stream }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    try {
      const r = await handle.result();
      out(`stream ${stream}: ${r.slot ? `slot pg2ch_${stream} dropped` : 'no slot'}, ${r.publication ? `publication pg2ch_${stream} dropped` : 'no publication'}; ClickHouse tables kept`);
    } catch (err) {
      throw new UserError(`drop of stream ${stream} failed: ${failureMessage(err)}`, 'CdcFailed');
    }
  }
}

/** PG2CH_CDC_WAL_WARN_BYTES: WAL a slot may retain before status warns (default 5,000,000,000). */
export function walWarnBytes(env: Record<string, string | undefined>): string | undefined {
  const raw = env.PG2CH_CDC_WAL_WARN_BYTES;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,19}$/.test(raw)) throw new ConfigError(`PG2CH_CDC_WAL_WARN_BYTES is invalid: expected a whole number of bytes such as 5000000000, got ${JSON.stringify(raw)}`);
  return raw;
}

/** `pg2ch cdc status`: per stream, the slot's confirmed LSN, WAL retained, the checkpoint, last batch, seconds behind, warnings. */
export async function cdcStatusReport(client: Client, temporal: TemporalConfig, config: ConfigFile | undefined, only: string | undefined, env: Record<string, string | undefined>): Promise<StreamStatus[]> {
  const streams = await runningStreams(client, config, only);
  const warnBytes = walWarnBytes(env);
  try {
    return await client.workflow.execute(cdcStatusWorkflow, {
      workflowId: `cdc-status:${randomUUID()}`,
      taskQueue: temporal.taskQueue,
      args: [{ streams, ...(warnBytes ? { warnBytes } : {}) }],
      workflowExecutionTimeout: '2m',
    });
  } catch (err) {
    throw new UserError(`cdc status failed: ${failureMessage(err)}`, 'StatusFailed');
  }
}

export const formatCdcStatus = (reports: StreamStatus[]) => reports.map(formatStreamStatus).join('\n');

/**
 * `pg2ch status` without a table: the config file's streams after the tables,
 * so one command shows everything pg2ch keeps in sync. A stream that cannot
 * be read is its own line, never a failed status.
 */
export async function streamStatusLines(client: Client, temporal: TemporalConfig, config: ConfigFile | undefined, env: Record<string, string | undefined>): Promise<string[]> {
  if (cdcStreams(config).size === 0) return [];
  try {
    return [formatCdcStatus(await cdcStatusReport(client, temporal, config, undefined, env))];
  } catch (err) {
    return [`streams: ${err instanceof Error ? err.message : String(err)}`];
  }
}

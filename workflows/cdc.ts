import { CancellationScope, continueAsNew, defineQuery, defineSignal, isCancellation, setHandler } from '@temporalio/workflow';
import type { BatchLimits, StreamStatus } from '../core/cdc';
import type { TableSettings } from '../core/table-settings';
import type { TablePlan } from '../core/types';
import { cdcDrop, cdcPrepare, cdcRead, cdcStatus } from './activity-proxies';

/** One object is the workflow's input and its continue-as-new state (names and choices, never rows). */
export interface CdcStreamInput {
  stream: string;
  tables: Array<{ table: string; settings?: TableSettings }>;
  /** Set once prepared: later runs read with them (a schema change replaces a table's). */
  plans?: TablePlan[];
  batch?: BatchLimits;
  /** How long one read activity holds the connection before the workflow starts the next. */
  readMs?: number;
  idleCheckpointMs?: number;
  /** Totals carried across continue-as-new. */
  changes?: number;
  batches?: number;
}

export interface CdcState {
  stream: string;
  phase: 'preparing' | 'streaming' | 'stopping';
  changes: number;
  batches: number;
  checkpoint: string | null;
  tables: string[];
}

export const cdcStopSignal = defineSignal('cdcStop');
export const cdcStateQuery = defineQuery<CdcState>('cdcState');

/** Reads before continue-as-new: each is a handful of events, so history stays small. */
const READS_PER_RUN = 50;

/** `cdc:<stream>`: prepares once, then reads changes until stopped (pg2ch cdc stop). */
export async function cdcStream(input: CdcStreamInput): Promise<CdcState> {
  const state: CdcState = { stream: input.stream, phase: 'preparing', changes: input.changes ?? 0, batches: input.batches ?? 0, checkpoint: null, tables: input.tables.map((t) => t.table) };
  let stop = false;
  let reading: CancellationScope | undefined;
  setHandler(cdcStateQuery, () => state);
  setHandler(cdcStopSignal, () => {
    stop = true;
    state.phase = 'stopping';
    reading?.cancel();
  });
  let plans = input.plans ?? (await cdcPrepare({ stream: input.stream, tables: input.tables })).plans;
  if (!stop) state.phase = 'streaming';
  for (let i = 0; i < READS_PER_RUN && !stop; i++) {
    reading = new CancellationScope();
    try {
      const r = await reading.run(() => cdcRead({ stream: input.stream, plans, maxRunMs: input.readMs, batch: input.batch, idleCheckpointMs: input.idleCheckpointMs }));
      plans = r.plans;
      state.changes += r.changes;
      state.batches += r.batches;
      state.checkpoint = r.checkpoint;
    } catch (e) {
      if (stop && isCancellation(e)) break;
      throw e;
    }
  }
  if (stop) return state;
  return continueAsNew<typeof cdcStream>({ ...input, plans, changes: state.changes, batches: state.batches });
}

/** `pg2ch cdc drop`: the slot and the publication (ClickHouse tables stay). */
export async function cdcDropStream(input: { stream: string }): Promise<{ slot: boolean; publication: boolean }> {
  return cdcDrop(input);
}

/** `pg2ch cdc status`: read through a worker, which reaches PostgreSQL and ClickHouse (the embedded engine too). */
export async function cdcStatusWorkflow(input: { streams: string[]; warnBytes?: string }): Promise<StreamStatus[]> {
  const out: StreamStatus[] = [];
  for (const stream of input.streams) out.push(await cdcStatus({ stream, warnBytes: input.warnBytes }));
  return out;
}

import { Context } from '@temporalio/activity';
import { to as copyTo } from 'pg-copy-streams';
import { UserError } from '../core/errors';
import { isIntegerType, mapColumn } from '../core/type-map';
import { parseTableName, tableKey } from '../core/table-name';
import type { ChunkRange, CopyResult, TablePlan } from '../core/types';
import { countRange, destinationIsEmpty, ensureDestination, insertTsv, readWatermark, writeCheckpoint, writeResetMarker } from './clickhouse';
import type { ActivityDeps } from './deps';
import { withFailures } from './failures';
import { countRangeSql, inSnapshot, introspect, nextChunk, type SourceSchema } from './postgres';
import { checkRanges, chooseStrategy, pullSql } from './pull';
import { CopyMeter, copyStatement } from './serialize';

export interface PrepareResult {
  plan: TablePlan;
  /** Last checkpointed cursor value; null when nothing was synced yet. */
  watermark: string | null;
}

function chooseCursor(schema: SourceSchema, key: string): string {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const pk = schema.primaryKey.length === 1 ? byName.get(schema.primaryKey[0]!) : undefined;
  if (pk && isIntegerType(pk.typname)) return pk.name;
  const id = byName.get('id');
  if (id && isIntegerType(id.typname)) return id.name;
  throw new UserError(
    `table ${key} has no integer cursor column: pg2ch needs a single-column integer primary key or an integer column named "id"`,
    'MissingCursor',
  );
}

const HEARTBEAT_MS = 2000;

/** Heartbeats every HEARTBEAT_MS with the details of the moment; returns the stop function. */
function heartbeatEvery(ctx: Context, details: () => unknown): () => void {
  const timer = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_MS);
  return () => clearInterval(timer);
}

export function createActivities(deps: ActivityDeps) {
  const { pg, clickhouse: ch, secrets } = deps;

  /** Once per workflow run: introspects the source, creates or checks the destination, reads the watermark. */
  async function prepareTable(input: { table: string }): Promise<PrepareResult> {
    let source;
    try {
      source = parseTableName(input.table);
    } catch (e) {
      throw new UserError((e as Error).message, 'BadTableName');
    }
    const key = tableKey(source);
    const schema = await introspect(pg, source);
    const cursor = chooseCursor(schema, key);
    const base = {
      key,
      source,
      // Same-named tables of different schemas must not share a destination.
      destination: { database: ch.database, table: source.schema === 'public' ? source.name : `${source.schema}_${source.name}` },
      cursor,
      columns: schema.columns.map((c) => mapColumn(c, ch.caps, c.name === cursor)),
      dedupToken: ch.caps.dedupToken,
      clickhouseVersion: ch.caps.version,
    };
    const plan: TablePlan = { ...base, strategy: await chooseStrategy(deps.copyStrategy, ch, base, deps.pgSource) };
    await ensureDestination(ch, plan);
    const watermark = await readWatermark(ch, key);
    // A watermark over an empty destination means its rows were dropped or
    // truncated: keeping the watermark would leave them missing for good.
    if (watermark !== null && (await destinationIsEmpty(ch, plan))) {
      Context.current().log.warn('destination is empty but sync_control has a watermark: syncing from the start', { table: key, watermark });
      await writeResetMarker(ch, key);
      return { plan, watermark: null };
    }
    return { plan, watermark };
  }

  /** Stage 1: the id range of the next chunk after the watermark, or null when caught up. */
  async function readChunk(input: { plan: TablePlan; afterId: string | null; chunkRows: number }): Promise<ChunkRange | null> {
    return nextChunk(pg, input.plan.source, input.plan.cursor, input.afterId, input.chunkRows);
  }

  /**
   * Stages 2 and 3: COPY of exactly this range, serialized by PostgreSQL into
   * TabSeparated, streamed into ClickHouse. Safe to repeat: the dedup token is
   * derived from the range and its row count, and a range already present from
   * an attempt that died before its checkpoint is not inserted again.
   */
  async function insertBatch(input: { plan: TablePlan; range: ChunkRange; resume: boolean }): Promise<CopyResult> {
    const { plan, range } = input;
    const ctx = Context.current();
    const resuming = input.resume || ctx.info.attempt > 1;
    return inSnapshot(pg, async (client) => {
      // The count, in the COPY's snapshot, feeds the dedup token and the resume
      // check; a server without tokens needs it only when resuming.
      let rows: number | undefined;
      if (plan.dedupToken || resuming) {
        const counted = await client.query<{ n: string }>(countRangeSql(plan.source, plan.cursor, range));
        rows = Number(counted.rows[0]!.n);
      }
      const token = plan.dedupToken ? `${plan.key}:${range.afterId}:${range.toId}:${rows}` : undefined;
      if (resuming && rows !== undefined && rows > 0 && (await countRange(ch, plan, range)) >= rows) {
        ctx.log.info('range already in ClickHouse, not inserted again', { table: plan.key, range });
        return { rows, bytes: 0, skipped: true };
      }
      if (plan.strategy === 'pull') {
        await checkRanges(client, plan, range);
        const stopBeat = heartbeatEvery(ctx, () => ({ strategy: 'pull' }));
        try {
          await ch.client.command({
            query: pullSql(plan, range, deps.pgSource),
            // Text without an offset (timestamp) is read as UTC wall-clock time, as in the push path.
            clickhouse_settings: { session_timezone: 'UTC', ...(token ? { insert_deduplication_token: token } : {}) },
            abort_signal: ctx.cancellationSignal,
          });
        } finally {
          stopBeat();
        }
        deps.afterInsert?.();
        return { rows: rows ?? (await countRange(ch, plan, range)), bytes: 0, skipped: false };
      }
      const meter = new CopyMeter();
      const stopBeat = heartbeatEvery(ctx, () => ({ rows: meter.rows, bytes: meter.bytes }));
      const source = client.query(copyTo(copyStatement(plan, range)));
      // A PostgreSQL error mid-COPY aborts the insert; report the PostgreSQL
      // error, which says what went wrong, not the broken request it caused.
      let copyError: Error | undefined;
      source.on('error', (e) => {
        copyError = e;
        meter.destroy(e);
      });
      // Errors reach us through copyError and the insert's promise; without a
      // listener of its own, pipe() rethrows a late one as an uncaught exception
      // once the ClickHouse client has dropped its listener.
      meter.on('error', () => {});
      source.pipe(meter);
      try {
        await insertTsv(ch, plan, meter, token, ctx.cancellationSignal);
      } catch (e) {
        source.destroy();
        throw copyError ?? e;
      } finally {
        stopBeat();
      }
      if (copyError) throw copyError;
      if (rows !== undefined && meter.rows !== rows) {
        throw new Error(`COPY returned ${meter.rows} rows where the snapshot counted ${rows}`);
      }
      deps.afterInsert?.();
      return { rows: meter.rows, bytes: meter.bytes, skipped: false };
    });
  }

  /** Stage 4: appends the new watermark to sync_control. */
  async function checkpoint(input: { plan: TablePlan; range: ChunkRange; rows: number }): Promise<void> {
    await writeCheckpoint(ch, input.plan, input.range, input.rows, Context.current().info.workflowExecution?.workflowId ?? "");
  }

  return {
    prepareTable: withFailures(secrets, prepareTable),
    readChunk: withFailures(secrets, readChunk),
    insertBatch: withFailures(secrets, insertBatch),
    checkpoint: withFailures(secrets, checkpoint),
  };
}

export type Pg2chActivities = ReturnType<typeof createActivities>;

import { Context } from '@temporalio/activity';
import { createCdcActivities } from './cdc';
import { UserError } from '../core/errors';
import { buildPlan, planWarnings } from '../core/table-plan';
import { SYNC_CONTROL } from '../core/ddl';
import { catchUp } from './cluster-ddl';
import type { TableSettings } from '../core/table-settings';
import { lookbackFrom } from '../core/keyset';
import { tableKey } from '../core/table-name';
import type { ChunkRange, CopyResult, TablePlan } from '../core/types';
import { afterIdFor, isCursorValue, mergeRanges, splitRange, subtractRanges, type CursorRange, type Partition } from '../core/ranges';
import { legacyVersionMessage } from '../core/copy-version';
import { followDestinationVersion, ordersByTimestamp, countRange, insertSettings, readResumeHorizon, destinationIsEmpty, lastCursorAfter, tableExists, ensureDestination, insertTsv, readCovered, readWatermark, writeCheckpoint, writeResetMarker } from './clickhouse';
import type { ActivityDeps } from './deps';
import { toChunkFailure, withFailures } from './failures';
import { readKeysetPosition } from './keyset-watermark';
import { cursorChange, planWithRecorded, sourceRestart } from './watermark-guard';
import { countRangeSql, cursorRangeForTimes, idsInRange, cursorStats, estimateRows, inSnapshot, introspect, keysetPending, missingDefault, nextChunk, nextKeysetChunk, pendingAfter, sourceSignature } from './postgres';
import { checkRanges, chooseStrategy, countUnheld, findUnheld, pullSql, pullVersion } from './pull';
import { copyStatement } from './serialize';
import { copyInto, heartbeatEvery } from './copy-stream';
import { completeChunk } from './partial-chunk';
import { settingsOfInput, sourceOfInput } from './table-input';
import { chunkHorizon, hiddenSessionsMessage, resumePosition, secondsAhead, stampedAheadMessage, type HorizonReading } from '../core/horizon';
import { readHorizon } from './horizon';
import { copyMissing, noteChunk, pendingRechecks, recheckLateRows, snapshotHorizon } from './late-commits';
import { tableStatuses } from './status';
import { withMetrics } from './metrics';
import { verifySegment } from './verify';
import { verifyByKey, type KeyVerifyInput } from './key-verify';
import { verifiesByKey } from '../core/key-verify';

export interface PrepareResult {
  plan: TablePlan;
  /** Last checkpointed cursor value (a keyset position for timestamp cursors); null when nothing was synced yet. */
  watermark: string | null;
  /** Where this run starts: the watermark, or before it by the updated mode's lookback. */
  startAfter: string | null;
  /** Ranges past the watermark that backfills copied already: the sync jumps over them. */
  covered: CursorRange[];
  /** Rows past the watermark still to copy (estimated when many). */
  pendingRows: number;
  /** Chunks noted for a late-commit recheck (see late-commits.ts). */
  rechecks: number;
}

export interface BackfillRequest {
  plan: TablePlan;
  /** What prepareTable found in ClickHouse: the watermark and the ranges backfills copied past it. */
  watermark: string | null;
  covered: CursorRange[];
  /** Inclusive cursor bounds; default: the whole table as it is now. */
  fromId?: string;
  toId?: string;
  /** ISO times: the cursor range of rows whose time column is in [since, until). */
  since?: string;
  until?: string;
  timeColumn?: string;
  partitions: number;
}

export interface BackfillPlan {
  /** The requested range as a cursor range; null when it holds no rows. */
  range: CursorRange | null;
  /** Parts of the range already in ClickHouse (synced or backfilled), skipped. */
  skipped: CursorRange[];
  partitions: Partition[];
}

/** Workflow input can come from any Temporal client: cursor bounds are checked before use. */
function checkCursorValues(input: { fromId?: string; toId?: string }): void {
  for (const [name, v] of [['--from-id', input.fromId], ['--to-id', input.toId]] as const) {
    if (v !== undefined && !isCursorValue(v)) throw new UserError(`${name} must be an integer cursor value, got ${JSON.stringify(v)}`, 'BadInput');
  }
}

/** Each partition is a child workflow; the parent's history grows with them. */
export const MAX_PARTITIONS = 1000;


export function createActivities(deps: ActivityDeps) {
  const { pg, clickhouse: ch, secrets } = deps;
  /** Tables whose text-copied columns this worker has named in its log already. */
  const namedTextColumns = new Set<string>();

  /** Columns of a type pg2ch has no mapping for, copied as PostgreSQL's text: said once per worker and table. */
  function noteTextColumns(plan: TablePlan): void {
    const text = plan.columns.filter((c) => c.textByDefault).map((c) => `${c.name} (${c.pgType})`);
    const said = `${plan.key}\u0000${text.join(',')}`;
    if (text.length === 0 || namedTextColumns.has(said)) return;
    namedTextColumns.add(said);
    Context.current().log.info("columns of types pg2ch has no mapping for are copied as String holding PostgreSQL's text; set types or exclude in the config file to choose otherwise", {
      table: plan.key, columns: text.join(', '),
    });
  }

  function keyOfInput(table: string): string {
    return tableKey(sourceOfInput(table));
  }

  /** How a table is copied: source, cursor, column mapping, destination and strategy. Reads only. */
  async function planFor(table: string, rawSettings?: TableSettings, warn = false): Promise<TablePlan> {
    const source = sourceOfInput(table);
    const settings = settingsOfInput(rawSettings, source);
    const schema = await introspect(pg, source);
    const base = {
      ...(await followDestinationVersion(ch, buildPlan(source, schema, settings, { caps: ch.caps, database: ch.database, cluster: ch.cluster }))),
      sourceSignature: await sourceSignature(pg, source),
      // Recorded with each checkpoint: verify and status find them there without the config file.
      ...(Object.keys(settings).length > 0 ? { settings } : {}),
    };
    if (warn) for (const w of planWarnings(schema, base)) Context.current().log.warn(w, { table: base.key, cursor: base.cursor });
    return { ...base, strategy: await chooseStrategy(deps.copyStrategy, ch, base, deps.pgSource) };
  }

  /** Destinations already warned about in this worker's log: once per destination. */
  const warnedVersions = new Set<string>();

  function noteTimestampVersions(plan: TablePlan): void {
    if (!ordersByTimestamp(plan)) return;
    const where = `${plan.destination.database}.${plan.destination.table}`;
    if (warnedVersions.has(where)) return;
    warnedVersions.add(where);
    Context.current().log.warn(legacyVersionMessage(plan.key, where, plan.cursor), { table: plan.key });
  }

  /** Once per workflow run: introspects the source, creates or checks the destination, reads the watermark. */
  async function prepareTable(input: { table: string; settings?: TableSettings }): Promise<PrepareResult> {
    const plan = await planFor(input.table, input.settings, true);
    const { key, source, cursor } = plan;
    noteTextColumns(plan);
    noteTimestampVersions(plan);
    const addedColumns = await ensureDestination(ch, plan, (col) => missingDefault(pg, plan, col));
    if (addedColumns.length > 0) Context.current().log.info('columns added in PostgreSQL added to ClickHouse', { table: key, columns: addedColumns });
    if (plan.layout.cluster && ch.kind === 'server') {
      const late = [...(await catchUp(ch, ch.database, [SYNC_CONTROL])), ...(await catchUp(ch, plan.destination.database, [plan.destination.table]))];
      if (late.length > 0) Context.current().log.warn('this replica has not fetched every part other replicas wrote (one is down?); chunks copied again are dropped as duplicate blocks', { table: key, tables: late.join(', ') });
    }
    // A watermark written under another cursor means nothing under this one
    // (an id read as a time, or the reverse): start over only where nothing is lost.
    const changed = await cursorChange(ch, plan);
    if (changed !== null && !(await restartIfEmptied(plan, true, null))) throw new UserError(changed, 'CursorChanged');
    if (plan.keyset) return prepareKeyset(plan);
    const watermark = await readWatermark(ch, key);
    const covered = (await readCovered(ch, key)).filter((r) => watermark === null || BigInt(r.toId) > BigInt(watermark));
    if (await restartIfEmptied(plan, watermark !== null || covered.length > 0, watermark)) {
      return { plan, watermark: null, startAfter: null, covered: [], pendingRows: (await pendingAfter(pg, source, cursor, null, [])).rows, rechecks: 0 };
    }
    const restart = await sourceRestart(pg, plan, watermark);
    if (restart?.certain) throw new UserError(restart.message, 'SourceRestarted');
    if (restart) Context.current().log.warn(restart.message, { table: key, watermark });
    const pending = await pendingAfter(pg, source, cursor, watermark, covered);
    return { plan, watermark, startAfter: watermark, covered, pendingRows: pending.rows, rechecks: await pendingRechecks(ch, key) };
  }

  /**
   * A watermark over an empty destination means its rows were dropped or
   * truncated: keeping the watermark would leave them missing for good, so
   * the progress is reset and the sync starts over. True when it did.
   */
  async function restartIfEmptied(plan: TablePlan, hasProgress: boolean, watermark: string | null): Promise<boolean> {
    if (!hasProgress || !(await destinationIsEmpty(ch, plan))) return false;
    Context.current().log.warn('destination is empty but sync_control has a watermark: syncing from the start', { table: plan.key, watermark });
    await writeResetMarker(ch, plan.key);
    return true;
  }

  /** prepareTable for a timestamp cursor: the watermark is a (time, tiebreak) position. */
  async function prepareKeyset(plan: TablePlan): Promise<PrepareResult> {
    const found = await readKeysetPosition(pg, ch, plan);
    const watermark = found !== null && !(await restartIfEmptied(plan, true, found)) ? found : null;
    // Updated mode starts where the previous run's snapshots may have missed a late commit; lookbackSeconds is margin on top.
    const horizon = watermark !== null && plan.mode === 'updated' ? await readResumeHorizon(ch, plan.key) : null;
    const startAfter = lookbackFrom(resumePosition(watermark, horizon), plan.lookbackSeconds);
    return { plan, watermark, startAfter, covered: [], pendingRows: await keysetPending(pg, plan, startAfter), rechecks: 0 };
  }

  /**
   * Turns a backfill request into partitions: the requested cursor range,
   * minus what is in ClickHouse already (below the watermark, or copied by an
   * earlier backfill, so a restarted backfill skips finished work), split by
   * the cursor's histogram into parts of about equal rows.
   */
  async function planBackfill(input: BackfillRequest): Promise<BackfillPlan> {
    const { plan } = input;
    const { source, cursor } = plan;
    if (plan.keyset) {
      // Not built (README, Backfills): partitions and the sync's jump over copied ranges are integer ranges.
      throw new UserError(
        `pg2ch backfill partitions integer id ranges, and ${plan.key} is synced by the timestamp ${JSON.stringify(plan.cursor)} (mode ${plan.mode}); ` +
          `run pg2ch sync ${plan.key} instead: it copies every row in (${plan.keyset.time}, ${plan.keyset.tiebreak}) order and resumes from its last chunk after a crash, then pg2ch verify ${plan.key} checks it by key`,
        'BadInput',
      );
    }
    checkCursorValues(input);
    if (!Number.isInteger(input.partitions) || input.partitions < 1 || input.partitions > MAX_PARTITIONS) {
      throw new UserError(`--partitions must be a whole number from 1 to ${MAX_PARTITIONS}, got ${JSON.stringify(input.partitions)}`, 'BadInput');
    }
    const stats = await cursorStats(pg, source, cursor);
    if (stats.lastId === null || stats.firstId === null) return { range: null, skipped: [], partitions: [] };
    let range: CursorRange | null;
    if (input.since || input.until) {
      const timeColumn = input.timeColumn ?? 'created_at';
      const col = plan.columns.find((c) => c.name === timeColumn);
      if (!col || !/^(timestamp|date)/.test(col.pgType)) {
        throw new UserError(
          `--since/--until select rows by a timestamp column, and ${plan.key} has no timestamp or date column ${JSON.stringify(timeColumn)}; name one with --time-column`,
          'BadInput',
        );
      }
      range = await cursorRangeForTimes(pg, source, cursor, timeColumn, input.since, input.until);
    } else {
      const from = afterIdFor(input.fromId);
      const to = input.toId ?? stats.lastId;
      range = from !== null && BigInt(from) >= BigInt(to) ? null : { afterId: from, toId: to };
    }
    if (range === null) return { range: null, skipped: [], partitions: [] };
    const { watermark } = input;
    const done = mergeRanges([...(watermark === null ? [] : [{ afterId: null, toId: watermark }]), ...input.covered]);
    const todo = subtractRanges(range, done);
    const skipped = subtractRanges(range, todo);
    const sized = await Promise.all(todo.map(async (r) => ({ r, rows: await estimateRows(pg, source, cursor, r.afterId, r.toId) })));
    const total = sized.reduce((n, s) => n + s.rows, 0);
    const partitions: Partition[] = [];
    for (const { r, rows } of sized) {
      if (rows === 0) continue;
      // Partitions shared out by rows; every uncopied piece gets at least one.
      const parts = Math.max(1, Math.round((input.partitions * rows) / Math.max(1, total)));
      partitions.push(...splitRange(r, parts, { bounds: stats.bounds, firstId: stats.firstId, rows }));
    }
    return { range, skipped, partitions };
  }

  /** Stage 1: the id range of the next chunk after the watermark, or null when caught up. */
  async function readChunk(input: { plan: TablePlan; afterId: string | null; chunkRows: number; upTo?: string }): Promise<ChunkRange | null> {
    if (input.plan.keyset) return nextKeysetChunk(pg, input.plan, input.afterId, input.chunkRows, input.upTo);
    return nextChunk(pg, input.plan.source, input.plan.cursor, input.afterId, input.chunkRows, input.upTo, input.plan.cursorShared === true);
  }

  /**
   * Stages 2 and 3: COPY of exactly this range, serialized by PostgreSQL into
   * TabSeparated, streamed into ClickHouse. Safe to repeat: the dedup token is
   * derived from the range and its row count, and a range already present from
   * an attempt that died before its checkpoint is not inserted again.
   */
  async function insertBatch(input: { plan: TablePlan; range: ChunkRange; resume: boolean }): Promise<CopyResult> {
    const { plan, range } = input;
    // Before the snapshot, never inside it (activities/horizon.ts).
    const reading = plan.keyset && plan.mode === 'updated' ? await readHorizon(pg) : undefined;
    const copied = await copyInSnapshot(plan, range, input.resume);
    if (reading === undefined) return copied;
    warnUncovered(plan, range, reading);
    const horizon = chunkHorizon(reading, range.toId);
    return horizon === undefined ? copied : { ...copied, horizon };
  }

  /** When each table last had a warning about writers the horizon cannot bound: said every WARN_EVERY_MS. */
  const warnedAt = new Map<string, number>();
  const WARN_EVERY_MS = 10 * 60_000;

  /** The worker log says, now and then, which late commits the horizon cannot see. */
  function warnUncovered(plan: TablePlan, range: ChunkRange, reading: HorizonReading): void {
    const ahead = secondsAhead(range.toId, reading.at);
    if (reading.hidden === 0 && ahead === null) return;
    const last = warnedAt.get(plan.key);
    if (last !== undefined && Date.now() - last < WARN_EVERY_MS) return;
    warnedAt.set(plan.key, Date.now());
    const log = Context.current().log;
    if (reading.hidden > 0) log.warn(hiddenSessionsMessage(plan.key, reading.hidden), { table: plan.key });
    if (ahead !== null) log.warn(stampedAheadMessage(plan.key, plan.cursor, ahead), { table: plan.key });
  }

  async function copyInSnapshot(plan: TablePlan, range: ChunkRange, resume: boolean): Promise<CopyResult> {
    const ctx = Context.current();
    const resuming = resume || ctx.info.attempt > 1;
    return inSnapshot(pg, async (client) => {
      // First statement: fixes the snapshot the count and the COPY read in.
      const atRead = await snapshotHorizon(client);
      // Late commits are rechecked by integer ranges; keyset tables re-read through their lookback.
      const noteOpenTransactions = async () => (plan.keyset ? undefined : noteChunk(ch, plan.key, range, atRead));
      // A column added, dropped or retyped since the plan: a new run plans again (ClickHouse follows) before copying.
      if ((await sourceSignature(client, plan.source)) !== plan.sourceSignature) {
        throw new UserError(`the columns of ${plan.key} changed in PostgreSQL since this run planned its copy; the sync plans again`, 'SourceChanged');
      }
      if (plan.outOfRange !== 'fail') {
        const unheld = await findUnheld(client, plan, range);
        if (unheld) {
          // Counted per column: a row can hold several such values.
          const counts = await countUnheld(client, plan, range);
          const values = counts.reduce((n, c) => n + c.values, 0);
          ctx.log.warn(`${values} values in ${counts.length} column${counts.length === 1 ? '' : 's'} ClickHouse cannot hold were ${plan.outOfRange === 'clamp' ? 'clamped' : 'set to NULL'}`, {
            table: plan.key, columns: counts.map((c) => `${c.column} (${c.values})`).join(', '), first: `${unheld.column.name}: ${unheld.value}`, holds: unheld.column.guard?.holds,
          });
        }
      }
      // The count, in the COPY's snapshot, feeds the dedup token and the resume
      // check; a server without tokens needs it only when resuming.
      let rows: number | undefined;
      if (plan.dedupToken || resuming) {
        const counted = await client.query<{ n: string }>(countRangeSql(plan, range));
        rows = Number(counted.rows[0]!.n);
      }
      const token = plan.dedupToken ? `${plan.key}:${range.afterId}:${range.toId}:${rows}` : undefined;
      // Keyset ranges are not counted: a replay collapses onto the copies present (ReplacingMergeTree by the row's key).
      if (resuming && !plan.keyset && rows !== undefined && rows > 0 && (await countRange(ch, plan, range)) > 0) {
        // Rows of this range are in ClickHouse: an earlier attempt inserted
        // them and died before its checkpoint, perhaps mid-stream. Inserting
        // the range again would double them; the rows are compared instead.
        const { replaced, added } = await completeChunk(client, ch, plan, range, () => ctx.heartbeat());
        if (replaced === 0 && added === 0) {
          ctx.log.info('range already in ClickHouse, not inserted again', { table: plan.key, range });
          return { rows, bytes: 0, skipped: true };
        }
        ctx.log.warn('part of the range was in ClickHouse, from a copy that died mid-insert: rows that differed were replaced, the missing ones copied', {
          table: plan.key, range, replaced, added,
        });
        await noteOpenTransactions();
        deps.afterInsert?.();
        return { rows, bytes: 0, skipped: false };
      }
      if (plan.strategy === 'pull') {
        await checkRanges(client, plan, range);
        const version = plan.layout.versionColumn ? await pullVersion(client) : undefined;
        const stopBeat = heartbeatEvery(ctx, () => ({ strategy: 'pull' }));
        try {
          await ch.client.command({
            query: pullSql(plan, range, deps.pgSource, version),
            // Text without an offset (timestamp) is read as UTC wall-clock time, as in the push path.
            clickhouse_settings: { session_timezone: 'UTC', ...insertSettings(ch, token) },
            abort_signal: ctx.cancellationSignal,
          });
        } finally {
          stopBeat();
        }
        await noteOpenTransactions();
        deps.afterInsert?.();
        return { rows: rows ?? (await countRange(ch, plan, range)), bytes: 0, skipped: false };
      }
      const copied = await copyInto(client, copyStatement(plan, range), (rows) => insertTsv(ch, plan, rows, token, ctx.cancellationSignal), ctx);
      if (rows !== undefined && copied.rows !== rows) {
        throw new Error(`COPY returned ${copied.rows} rows where the snapshot counted ${rows}`);
      }
      await noteOpenTransactions();
      deps.afterInsert?.();
      return { rows: copied.rows, bytes: copied.bytes, skipped: false };
    });
  }

  /** insertBatch, with a log line per chunk copied: what a log shipper follows a sync by. */
  async function copyChunk(input: { plan: TablePlan; range: ChunkRange; resume: boolean }): Promise<CopyResult> {
    const result = await insertBatch(input);
    const { afterId, toId } = input.range;
    // A skipped chunk said so already (range already in ClickHouse).
    if (!result.skipped) Context.current().log.info('chunk copied', { table: input.plan.key, afterId, toId, rows: result.rows, bytes: result.bytes });
    return result;
  }

  /**
   * What `pg2ch verify` compares: by default everything synced so far (up to
   * the watermark or the end of the ranges backfills copied), else the ids
   * asked for. Creates nothing: verifying a table never synced is an error.
   */
  /**
   * Where verify ends when nothing was synced yet: rows in PostgreSQL need a
   * sync first; with none there, ClickHouse's last id, so rows only it holds
   * are compared; null when both sides are empty (equal, nothing to read).
   */
  async function unsyncedEnd(plan: TablePlan, afterId: string | null): Promise<string | null> {
    if (await nextChunk(pg, plan.source, plan.cursor, afterId, 1)) {
      throw new UserError(`nothing of ${plan.key} was synced yet while PostgreSQL has rows to compare; run pg2ch sync ${plan.key} first, or give --to-id`, 'NotSynced');
    }
    return lastCursorAfter(ch, plan, afterId);
  }

  async function planVerify(input: { table: string; settings?: TableSettings; fromId?: string; toId?: string }): Promise<{ plan: TablePlan; afterId: string | null; upTo: string | null; byKey?: { watermark: string | null } }> {
    // Without settings of its own, verify takes those the table was last synced with.
    const plan = await planWithRecorded(ch, keyOfInput(input.table), input.settings, (s) => planFor(input.table, s));
    const { database, table } = plan.destination;
    if (!(await tableExists(ch, database, table))) {
      throw new UserError(`ClickHouse has no table ${database}.${table}: ${plan.key} was never synced there; run pg2ch sync ${plan.key} first`, 'NotSynced');
    }
    const changed = await cursorChange(ch, plan);
    if (changed !== null) throw new UserError(changed, 'CursorChanged');
    if (verifiesByKey(plan)) return { plan, afterId: null, upTo: null, byKey: { watermark: await keyVerifyWatermark(plan, input) } };
    checkCursorValues(input);
    const afterId = afterIdFor(input.fromId);
    let upTo: string | null | undefined = input.toId;
    if (upTo === undefined) {
      // No sync_control at all (a destination made by hand): nothing was synced.
      const synced = (await tableExists(ch, ch.database, SYNC_CONTROL)) ? [await readWatermark(ch, plan.key), ...(await readCovered(ch, plan.key)).map((r) => r.toId)] : [];
      const ends = synced.filter((x): x is string => x !== null);
      upTo = ends.length > 0 ? ends.reduce((a, b) => (BigInt(a) >= BigInt(b) ? a : b)) : await unsyncedEnd(plan, afterId);
    }
    return { plan, afterId, upTo };
  }

  /** Where a by-key verify stops: the keyset watermark (rows after it are not synced yet); null compares every row. */
  async function keyVerifyWatermark(plan: TablePlan, input: { fromId?: string; toId?: string }): Promise<string | null> {
    if (input.fromId !== undefined || input.toId !== undefined) {
      throw new UserError(`--from-id and --to-id are integer cursor bounds, and ${plan.key} is verified by its row key as a whole (timestamp cursor or mode ${plan.mode}); run pg2ch verify ${plan.key} without them`, 'BadInput');
    }
    if (!plan.keyset) return null;
    const watermark = (await tableExists(ch, ch.database, SYNC_CONTROL)) ? await readKeysetPosition(pg, ch, plan) : null;
    if (watermark === null && (await nextKeysetChunk(pg, plan, null, 1))) {
      throw new UserError(`nothing of ${plan.key} was synced yet while PostgreSQL has rows to compare; run pg2ch sync ${plan.key} first`, 'NotSynced');
    }
    return watermark;
  }

  /** Stage 4: appends the new watermark to sync_control. */
  async function checkpoint(input: { plan: TablePlan; range: ChunkRange; rows: number; horizon?: string }): Promise<void> {
    const { workflowExecution } = Context.current().info;
    await writeCheckpoint(ch, input.plan, input.range, input.rows, workflowExecution?.workflowId ?? '', workflowExecution?.runId ?? '', input.horizon);
  }

  const cdc = createCdcActivities(deps);
  return withMetrics({
    /** Mode cdc (activities/cdc.ts): the stream's setup, its long-running read, its removal. */
    cdcPrepare: withFailures(secrets, cdc.cdcPrepare),
    cdcRead: withFailures(secrets, cdc.cdcRead),
    cdcDrop: withFailures(secrets, cdc.cdcDrop),
    cdcStatus: withFailures(secrets, cdc.cdcStatus),
    prepareTable: withFailures(secrets, prepareTable),
    planBackfill: withFailures(secrets, planBackfill),
    readChunk: withFailures(secrets, readChunk),
    insertBatch: withFailures(secrets, copyChunk, toChunkFailure),
    checkpoint: withFailures(secrets, checkpoint),
    /** For `pg2ch status`: read through the worker, which holds the embedded engine. */
    planVerify: withFailures(secrets, planVerify),
    /** `pg2ch verify --repair`: copies the rows of a differing range that ClickHouse lacks. */
    repairRange: withFailures(secrets, async (input: { plan: TablePlan; range: ChunkRange }) => {
      const ctx = Context.current();
      return copyMissing(pg, ch, input.plan, await idsInRange(pg, input.plan, input.range), () => ctx.heartbeat());
    }),
    /** Before a sync's new chunks: rows that committed late behind the watermark (see late-commits.ts). */
    recheckLate: withFailures(secrets, (input: { plan: TablePlan }) => {
      const ctx = Context.current();
      return recheckLateRows(pg, ch, input.plan, () => ctx.heartbeat());
    }),
    verifySegment: withFailures(secrets, (input: Parameters<typeof verifySegment>[3]) => verifySegment(pg, ch, Context.current(), input)),
    /** `pg2ch verify` of a table compared by row key (timestamp cursor, updated mode, CDC), --repair included. */
    verifyByKey: withFailures(secrets, (input: KeyVerifyInput) => verifyByKey(pg, ch, Context.current(), input)),
    readStatus: withFailures(secrets, (input: { tables?: string[]; settings?: Record<string, TableSettings>; defaults?: TableSettings }) =>
      tableStatuses(pg, ch, input.tables, input.settings, input.defaults),
    ),
  }, deps.metrics);
}

export type Pg2chActivities = ReturnType<typeof createActivities>;

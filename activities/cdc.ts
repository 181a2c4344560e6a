import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import {
  beganBeforeCheckpoint,
  batchDue,
  buildCdcPlan,
  CDC_CONTROL,
  CDC_DELETED_COLUMN,
  CDC_VERSION_COLUMN,
  cdcMetaColumns,
  changeLines,
  changeVersion,
  createCdcControlSql,
  DEFAULT_BATCH,
  keyColumnsOf,
  parseLsn,
  relationShape,
  secondsBehind,
  streamWarnings,
  type StreamStatus,
  streamNames,
  type BatchLimits,
  type TableLines,
} from '../core/cdc';
import { UserError } from '../core/errors';
import { chIdent, chQualified, chString } from '../core/quote';
import { pgTableRef } from '../core/table-name';
import type { TableSettings } from '../core/table-settings';
import type { TablePlan } from '../core/types';
import { postgresCdcSource, slotStatus } from '../sources/postgres-cdc';
import type { ChangeEvent } from '../sources/types';
import { command, destinationIsEmpty, ensureDestination, insertTsv, queryRows, tableExists } from './clickhouse';
import type { ActivityDeps, ClickHouseTarget } from './deps';
import { copyInto } from './copy-stream';
import { settingsOfInput, sourceOfInput } from './table-input';
import { introspect, missingDefault, onConnection } from './postgres';

export interface CdcTableInput {
  table: string;
  settings?: TableSettings;
}

export interface CdcReadResult {
  plans: TablePlan[];
  changes: number;
  batches: number;
  checkpoint: string | null;
}

async function readCheckpoint(ch: ClickHouseTarget, stream: string): Promise<string | null> {
  const rows = await queryRows<{ l: string }>(
    ch,
    `SELECT lsn_text AS l FROM ${chQualified(ch.database, CDC_CONTROL)} WHERE stream = ${chString(stream)} AND kind = 'batch' ORDER BY lsn DESC LIMIT 1`,
  );
  return rows[0]?.l ?? null;
}

async function writeControl(ch: ClickHouseTarget, row: { stream: string; kind: 'batch' | 'copy' | 'snapshot'; lsn: string; changes: number; table?: string; workflowId: string }): Promise<void> {
  // Numbers as literals: 18.16 takes no string for a UInt64 in VALUES.
  const values = [chString(row.stream), chString(row.kind), chString(row.table ?? ''), parseLsn(row.lsn).toString(), chString(row.lsn), String(row.changes), chString(row.workflowId)];
  await command(ch, `INSERT INTO ${chQualified(ch.database, CDC_CONTROL)} (stream, kind, table_name, lsn, lsn_text, changes, workflow_id, written_at) VALUES (${values.join(', ')}, now())`);
}

/** The first copy of a table for a stream: never begun, begun (a crash cut it: copied again), or done. */
async function firstCopyState(ch: ClickHouseTarget, stream: string, table: string): Promise<'none' | 'started' | 'done'> {
  const rows = await queryRows<{ k: string }>(
    ch,
    `SELECT DISTINCT kind AS k FROM ${chQualified(ch.database, CDC_CONTROL)} WHERE stream = ${chString(stream)} AND kind IN ('copy', 'snapshot') AND table_name = ${chString(table)}`,
  );
  const kinds = new Set(rows.map((r) => r.k));
  return kinds.has('snapshot') ? 'done' : kinds.has('copy') ? 'started' : 'none';
}

function insertLines(ch: ClickHouseTarget, plan: TablePlan, lines: string[], token: string | undefined): Promise<void> {
  if (lines.length === 0) return Promise.resolve();
  return insertTsv(ch, plan, Readable.from([Buffer.from(lines.join(''))]), token);
}

/** The plan deletes are written with: key columns, version, flag (the other columns take their defaults). */
const deletePlan = (plan: TablePlan): TablePlan => ({ ...plan, columns: [...keyColumnsOf(plan), ...cdcMetaColumns()] });

export function createCdcActivities(deps: ActivityDeps) {
  const { pg, clickhouse: ch } = deps;
  const source = postgresCdcSource(pg, deps.pgSource);

  async function planTable(t: CdcTableInput): Promise<TablePlan> {
    const src = sourceOfInput(t.table);
    const settings = settingsOfInput(t.settings, src);
    return buildCdcPlan(src, await introspect(pg, src), settings, ch.caps, ch.database, ch.cluster);
  }

  /**
   * Rows already in the table when the slot was made, at version 0: every
   * change the slot streams has a larger version, so a row changed since
   * ends as its last change, whichever of the two is written first.
   */
  async function initialCopy(plan: TablePlan): Promise<number> {
    const select = `SELECT ${plan.columns.map((c) => c.select).join(', ')} FROM ${pgTableRef(plan.source)}`;
    const ctx = Context.current();
    const copied = await onConnection(pg, (client) => copyInto(client, `COPY (${select}) TO STDOUT`, (rows) => insertTsv(ch, plan, rows, undefined), ctx));
    return copied.rows;
  }

  /** Checks, publication, slot, destinations, first copies. Returns the plans the stream reads with. */
  async function cdcPrepare(input: { stream: string; tables: CdcTableInput[] }): Promise<{ plans: TablePlan[]; created: boolean }> {
    const names = streamNames(input.stream);
    if (input.tables.length === 0) throw new UserError(`stream ${input.stream} has no tables: set mode: cdc (and stream: ${input.stream}) for tables in the config file`, 'BadConfig');
    const plans = [];
    for (const t of input.tables) plans.push(await planTable(t));
    const { created } = await source.prepare(names, plans.map((p) => p.source));
    await command(ch, createCdcControlSql(ch.database, ch.cluster));
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? "";
    for (const plan of plans) {
      await ensureDestination(ch, plan, (col) => missingDefault(pg, plan, col));
      const state = await firstCopyState(ch, input.stream, plan.key);
      if (state !== 'done') {
        // Rows of an earlier stream carry versions a version-0 copy would lose to (rows of this stream's cut copy do not).
        if (state === 'none' && !(await destinationIsEmpty(ch, plan))) {
          const { database, table } = plan.destination;
          throw new UserError(
            `ClickHouse table ${database}.${table} already holds rows, and the first copy of ${plan.key} for stream ${input.stream} would lose to their versions: ` +
              `empty it (TRUNCATE TABLE ${chQualified(database, table)}) or set another destination for ${plan.key}, then pg2ch cdc start again`,
            'CdcDestinationNotEmpty',
          );
        }
        await writeControl(ch, { stream: input.stream, kind: 'copy', lsn: '0/0', changes: 0, table: plan.key, workflowId });
        const rows = await initialCopy(plan);
        await writeControl(ch, { stream: input.stream, kind: 'snapshot', lsn: '0/0', changes: rows, table: plan.key, workflowId });
      }
      Context.current().heartbeat();
    }
    return { plans, created };
  }

  /**
   * Holds the replication connection for up to maxRunMs: changes are
   * rendered into lines per table, written when a batch is due (at a
   * commit), then the batch's end is checkpointed in cdc_control, and only
   * then confirmed to PostgreSQL. A crash anywhere replays from the
   * checkpoint; replayed changes give identical rows, which collapse.
   */
  async function cdcRead(input: { stream: string; plans: TablePlan[]; maxRunMs?: number; batch?: BatchLimits; idleCheckpointMs?: number }): Promise<CdcReadResult> {
    const ctx = Context.current();
    const names = streamNames(input.stream);
    const limits = input.batch ?? DEFAULT_BATCH;
    const idleMs = input.idleCheckpointMs ?? 10_000;
    const workflowId = ctx.info.workflowExecution?.workflowId ?? "";
    const plans = new Map(input.plans.map((p) => [p.key, p]));
    const shapes = new Map<string, string>();
    let checkpoint = await readCheckpoint(ch, input.stream);
    let pending = new Map<string, TableLines>();
    let pendingCount = 0;
    let committed = 0;
    let firstAt: number | undefined;
    let lastCommitEnd: string | null = null;
    let lastCheckpointAt = Date.now();
    let inTxn = false;
    let skipping = false;
    let changes = 0;
    let batches = 0;
    // A failed write leaves lines that were taken from `pending` unwritten: nothing
    // may be checkpointed after it, so the first failure ends the read (its retry
    // starts from the checkpoint) and every later write is refused.
    let broken: unknown;
    let fatal: (e: unknown) => void = () => {};
    const failed = new Promise<never>((_, reject) => (fatal = reject));
    failed.catch(() => {});
    let lock: Promise<unknown> = Promise.resolve();
    const serial = <T>(fn: () => Promise<T>): Promise<T> => {
      const next = lock.then(() => {
        if (broken !== undefined) throw broken;
        return fn();
      });
      lock = next.catch((e) => {
        broken ??= e;
        fatal(e);
      });
      return next;
    };
    /** Closes the batch of what has committed; not while a transaction is open (its commit closes it). */
    const closeCommitted = async () => {
      if (inTxn || committed === 0 || !lastCommitEnd) return;
      await closeBatch(lastCommitEnd);
    };

    const linesFor = (key: string) => {
      let l = pending.get(key);
      if (!l) pending.set(key, (l = { rows: [], deletes: [] }));
      return l;
    };

    /** Writes what is pending (no checkpoint): rows of committed changes, replayed identically after a crash. */
    const writePending = async () => {
      const batch = pending;
      pending = new Map();
      pendingCount = 0;
      for (const [key, lines] of batch) {
        const plan = plans.get(key)!;
        // Named by content: only a retry of this very insert is dropped as its duplicate.
        const token = (l: string[]) => (plan.dedupToken ? `cdc:${createHash('sha256').update(l.join('')).digest('hex')}` : undefined);
        await insertLines(ch, plan, lines.rows, token(lines.rows));
        await insertLines(ch, deletePlan(plan), lines.deletes, token(lines.deletes));
      }
    };

    /** The batch up to a commit's end: written, checkpointed, then confirmed. */
    const closeBatch = async (endLsn: string) => {
      await writePending();
      await writeControl(ch, { stream: input.stream, kind: 'batch', lsn: endLsn, changes: committed, workflowId });
      checkpoint = endLsn;
      lastCheckpointAt = Date.now();
      firstAt = undefined;
      if (committed > 0) batches++;
      committed = 0;
      stream.confirm(endLsn);
    };

    /** A relation message: the first for a table is compared with the plan; a changed one plans the table again. */
    const onRelation = async (e: Extract<ChangeEvent, { kind: 'relation' }>) => {
      const plan = plans.get(e.table);
      if (!plan) return;
      const shape = relationShape(e.columns);
      if (shapes.get(e.table) === shape) return;
      const own = plan.columns.filter((c) => c.name !== CDC_VERSION_COLUMN && c.name !== CDC_DELETED_COLUMN).map((c) => c.name);
      const sent = e.columns.map((c) => c.name).filter((n) => !plan.excluded.includes(n));
      const known = shapes.has(e.table);
      shapes.set(e.table, shape);
      if (!known && own.join(',') === sent.join(',')) return;
      // Lines rendered under the old plan go first, then the destination follows PostgreSQL as the copy path's does.
      await serial(writePending);
      const fresh = buildCdcPlan(plan.source, await introspect(pg, plan.source), plan.settings ?? {}, ch.caps, ch.database, ch.cluster);
      const inRelation = new Set(e.columns.map((c) => c.name));
      fresh.columns = fresh.columns.filter((c) => inRelation.has(c.name) || c.name === CDC_VERSION_COLUMN || c.name === CDC_DELETED_COLUMN);
      const added = await ensureDestination(ch, fresh, (col) => missingDefault(pg, fresh, col));
      if (added.length > 0) ctx.log.info('columns added in PostgreSQL were added in ClickHouse', { table: e.table, columns: added.join(', ') });
      plans.set(e.table, fresh);
    };

    /** TRUNCATE: every key the destination holds is marked deleted at the truncate's version. */
    const onTruncate = async (e: Extract<ChangeEvent, { kind: 'truncate' }>) => {
      const version = changeVersion(e.lsn);
      await serial(writePending);
      for (const key of e.tables) {
        const plan = plans.get(key);
        if (!plan) continue;
        const { database, table } = plan.destination;
        const keys = plan.rowKey!.map(chIdent).join(', ');
        await command(
          ch,
          `INSERT INTO ${chQualified(database, table)} (${keys}, ${chIdent(CDC_VERSION_COLUMN)}, ${chIdent(CDC_DELETED_COLUMN)}) ` +
            `SELECT ${keys}, toUInt64(${version}), toUInt8(1) FROM ${chQualified(database, table)} FINAL WHERE ${chIdent(CDC_DELETED_COLUMN)} = 0`,
        );
      }
    };

    const onEvent = async (e: ChangeEvent): Promise<void> => {
      switch (e.kind) {
        case 'begin':
          inTxn = true;
          skipping = beganBeforeCheckpoint(e.commitLsn, checkpoint);
          return;
        case 'relation':
          return onRelation(e);
        case 'commit':
          inTxn = false;
          if (skipping) {
            skipping = false;
            return;
          }
          lastCommitEnd = e.endLsn;
          if (batchDue(committed, firstAt, Date.now(), limits)) await serial(closeCommitted);
          return;
        case 'truncate':
          if (!skipping) await onTruncate(e);
          return;
        default: {
          if (skipping) return;
          const plan = plans.get(e.table);
          if (!plan) return;
          changeLines(plan, e, linesFor(e.table));
          changes++;
          committed++;
          pendingCount++;
          firstAt ??= Date.now();
          // A transaction larger than a batch is written in parts, checkpointed at its commit.
          if (pendingCount >= limits.maxChanges) await serial(writePending);
        }
      }
    };

    const stream = await source.open(names, checkpoint, onEvent);
    const started = Date.now();
    let stopReason: 'time' | 'cancel' | undefined;
    const tick = setInterval(() => {
      ctx.heartbeat({ checkpoint });
      const now = Date.now();
      if (!inTxn && committed > 0 && batchDue(committed, firstAt, now, limits)) {
        void serial(closeCommitted).catch(() => {});
      } else if (!inTxn && committed === 0 && now - lastCheckpointAt >= idleMs) {
        // Idle: the slot follows the server's position, so WAL written elsewhere is not kept for this stream.
        lastCheckpointAt = now;
        void serial(async () => {
          const at = stream.serverLsn();
          if (inTxn || committed > 0 || !at || (checkpoint && parseLsn(at) <= parseLsn(checkpoint))) return;
          await closeBatch(at);
        }).catch(() => {});
      }
      if (now - started >= (input.maxRunMs ?? 300_000)) stopReason ??= 'time';
    }, 200);
    const cancelled = new Promise<void>((resolve) => ctx.cancelled.catch(() => ((stopReason ??= 'cancel'), resolve())));
    let timeUpTimer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((resolve) => {
      timeUpTimer = setInterval(() => stopReason && resolve(), 200);
    });
    try {
      await Promise.race([stream.done, cancelled, timeUp, failed]);
      // Stops reading, then writes and checkpoints what committed (an open transaction is read again next time).
      await stream.stop();
      await lock;
      if (broken !== undefined) throw broken;
      await serial(closeCommitted);
      await stream.done;
    } finally {
      clearInterval(tick);
      clearInterval(timeUpTimer);
      await stream.stop();
    }
    if (stopReason === 'cancel') throw new CancelledFailure('stream stopped');
    return { plans: [...plans.values()], changes, batches, checkpoint };
  }

  async function cdcDrop(input: { stream: string }): Promise<{ slot: boolean; publication: boolean }> {
    const names = streamNames(input.stream);
    const r = await source.drop(names);
    // The checkpoints and first-copy marks belong to the slot: a new one starts over (ClickHouse data stays).
    if (await tableExists(ch, ch.database, CDC_CONTROL)) {
      await command(ch, `ALTER TABLE ${chQualified(ch.database, CDC_CONTROL)} DELETE WHERE stream = ${chString(input.stream)}`);
    }
    return r;
  }

  async function cdcStatus(input: { stream: string; warnBytes?: string }): Promise<StreamStatus> {
    const names = streamNames(input.stream);
    const slot = await slotStatus(pg, names.slot);
    const current = (await pg.query<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`)).rows[0]!.l;
    let checkpoint: string | null = null;
    let lastBatchAt: string | null = null;
    if (await tableExists(ch, ch.database, CDC_CONTROL)) {
      const r = await queryRows<{ l: string; t: string }>(
        ch,
        `SELECT lsn_text AS l, toString(written_at, 'UTC') AS t FROM ${chQualified(ch.database, CDC_CONTROL)} WHERE stream = ${chString(input.stream)} AND kind = 'batch' ORDER BY lsn DESC LIMIT 1`,
      );
      checkpoint = r[0]?.l ?? null;
      lastBatchAt = r[0]?.t ?? null;
    }
    const base = {
      stream: input.stream,
      slot: slot && { active: slot.active, confirmedLsn: slot.confirmedLsn, retainedBytes: slot.retainedBytes },
      checkpoint,
      lastBatchAt,
      currentLsn: current,
      secondsBehind: secondsBehind(current, checkpoint, lastBatchAt, Date.now()),
    };
    return { ...base, warnings: streamWarnings(base, input.warnBytes ? BigInt(input.warnBytes) : undefined) };
  }

  return { cdcPrepare, cdcRead, cdcDrop, cdcStatus };
}

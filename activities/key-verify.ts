import { StringDecoder } from 'node:string_decoder';
import type { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { copySelectList } from '../core/copy-version';
import { keysetWhere } from '../core/keyset';
import {
  addToReport,
  BucketDigests,
  bucketOf,
  chKeysWhere,
  collect,
  differingBuckets,
  diffKeys,
  emptyReport,
  groupBuckets,
  KEY_BUCKETS,
  keyedRow,
  keyShape,
  type KeyReport,
  type KeyShape,
  type KeySide,
} from '../core/key-verify';
import { chIdent, chQualified, pgIdent, pgString } from '../core/quote';
import { pgTableRef } from '../core/table-name';
import type { TablePlan } from '../core/types';
import { deleteWhere, insertTsv, wideReadSettings } from './clickhouse';
import type { ClickHouseTarget } from './deps';
import { onConnection } from './postgres';

export interface KeyVerifyInput {
  plan: TablePlan;
  /** The keyset watermark: PostgreSQL rows after it are not synced yet, so their keys are left out on both sides. */
  watermark: string | null;
  repair?: boolean;
  buckets?: number;
}

export interface KeyComparison {
  /** PostgreSQL's live rows compared (soft-deleted ones and those after the watermark left out). */
  rows: number;
  /** ClickHouse's present rows compared (after FINAL, flagged rows left out). */
  clickhouseRows: number;
  /** PostgreSQL rows changed after the watermark, whose keys were not compared. */
  pending: number;
  buckets: number;
  report: KeyReport;
}

export interface KeyVerifyResult extends KeyComparison {
  key: string[];
  final: boolean;
  /** With repair: what the first comparison found, and what was done; `report` is then what still differs. */
  repaired?: { before: KeyReport; deleted: number; copied: number };
}

/** Keys per DELETE mutation and per PostgreSQL copy (both go in one query's text). */
const KEY_BATCH = 1000;

/** Calls `onLine` for each line of a stream of text chunks (rows never hold a raw newline: COPY and TabSeparated escape it). */
async function eachLine(chunks: AsyncIterable<Buffer | string>, onLine: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of chunks) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line !== '') onLine(line);
  }
  rest += decoder.end();
  if (rest !== '') onLine(rest);
}

/**
 * PostgreSQL's rows: plan.columns as the copy renders them, then each key
 * column's own text, then 1 where the row is after the watermark.
 */
function pgSelect(plan: TablePlan, shape: KeyShape, watermark: string | null): string {
  const pending = plan.keyset && watermark !== null ? `(${keysetWhere(plan.keyset, watermark)})::int` : '0';
  const list = [...plan.columns.map((c) => c.select), ...shape.key.map((k) => `${pgIdent(k)}::text`), pending];
  return `SELECT ${list.join(', ')} FROM ${pgTableRef(plan.source)}`;
}

async function pgLines(pg: Pool, plan: TablePlan, select: string, onLine: (line: string) => void): Promise<void> {
  await onConnection(pg, async (client) => {
    // As pgRangeText: the documented hex form whatever the role's default.
    await client.query(`SET bytea_output = 'hex'`);
    await eachLine(client.query(copyTo(`COPY (${select}) TO STDOUT`)), onLine);
  });
}

/** ClickHouse's rows as the table shows them: FINAL for a replacing engine, rows flagged deleted left out. */
async function chLines(ch: ClickHouseTarget, plan: TablePlan, shape: KeyShape, onLine: (line: string) => void): Promise<void> {
  const { database, table } = plan.destination;
  const where = shape.chFlags.length > 0 ? ` WHERE ${shape.chFlags.map((f) => `${chIdent(f)} = 0`).join(' AND ')}` : '';
  const rs = await ch.client.query({
    query: `SELECT ${plan.columns.map((c) => chIdent(c.name)).join(', ')} FROM ${chQualified(database, table)}${shape.final ? ' FINAL' : ''}${where}`,
    format: 'TabSeparated',
    clickhouse_settings: wideReadSettings(plan.columns.length),
  });
  for await (const rows of rs.stream()) for (const r of rows as Array<{ text: string }>) onLine(r.text);
}

interface Scan {
  pgDigests: BucketDigests;
  chDigests: BucketDigests;
  /** Rows of the kept buckets, by key: PostgreSQL's live, its soft-deleted, ClickHouse's. */
  pg: Map<string, KeySide>;
  pgDeleted: Map<string, KeySide>;
  ch: Map<string, KeySide>;
  pending: number;
}

/** One read of both sides; rows of the buckets in `keep` are held by key. */
async function scan(pg: Pool, ch: ClickHouseTarget, plan: TablePlan, shape: KeyShape, input: KeyVerifyInput, buckets: number, heartbeat: () => void, keep?: Set<number>): Promise<Scan> {
  const types = plan.columns.map((c) => c.chType);
  const s: Scan = { pgDigests: new BucketDigests(buckets), chDigests: new BucketDigests(buckets), pg: new Map(), pgDeleted: new Map(), ch: new Map(), pending: 0 };
  const pendingKeys = new Set<string>();
  let lines = 0;
  const beat = () => {
    if (++lines % 10_000 === 0) heartbeat();
  };
  // PostgreSQL first: the keys it has after the watermark are then left out of ClickHouse's rows too.
  await pgLines(pg, plan, pgSelect(plan, shape, input.watermark), (line) => {
    beat();
    const row = keyedRow(types, shape, line);
    if (line.endsWith('\t1')) {
      pendingKeys.add(row.key);
      s.pending++;
      return;
    }
    const b = bucketOf(row.key, buckets);
    if (row.deleted) {
      if (keep?.has(b)) collect(s.pgDeleted, row);
      return;
    }
    s.pgDigests.add(row, b);
    if (keep?.has(b)) collect(s.pg, row);
  });
  await chLines(ch, plan, shape, (line) => {
    beat();
    const row = keyedRow(types, shape, line);
    if (pendingKeys.has(row.key)) return;
    const b = bucketOf(row.key, buckets);
    s.chDigests.add(row, b);
    if (keep?.has(b)) collect(s.ch, row);
  });
  return s;
}

/**
 * Makes ClickHouse hold PostgreSQL's rows for these keys, whatever version
 * they carry: their rows are deleted there (a mutation, waited for), then
 * PostgreSQL's rows, soft-deleted ones included, are copied as a chunk is.
 * An inserted row that is alone under its key wins in FINAL even when its
 * version (updated_at) is older than the one deleted.
 */
async function repairKeys(pg: Pool, ch: ClickHouseTarget, plan: TablePlan, shape: KeyShape, del: KeySide[], copy: KeySide[], heartbeat: () => void): Promise<void> {
  const keyTypes = shape.keyIndexes.map((i) => plan.columns[i]!.chType.replace(/^Nullable\((.*)\)$/, '$1'));
  const wheres: string[] = [];
  for (let i = 0; i < del.length; i += KEY_BATCH) wheres.push(chKeysWhere(shape.key, keyTypes, del.slice(i, i + KEY_BATCH).map((k) => k.fields)));
  if (wheres.length > 0) await deleteWhere(ch, plan, wheres, `${del.length} keys`, heartbeat);
  const pgTypes = shape.keyIndexes.map((i) => plan.columns[i]!.pgType);
  const cols = `(${shape.key.map(pgIdent).join(', ')})`;
  for (let i = 0; i < copy.length; i += KEY_BATCH) {
    const tuples = copy.slice(i, i + KEY_BATCH).map((k) => `(${k.pgFields!.map((v, j) => `${pgString(v)}::${pgTypes[j]}`).join(', ')})`);
    // The copy's columns: a repair stamps its own snapshot's version, newer than any copy before it.
    const select = `SELECT ${copySelectList(plan).join(', ')} FROM ${pgTableRef(plan.source)} WHERE ${cols} IN (${tuples.join(', ')})`;
    await onConnection(pg, async (client) => {
      await client.query(`SET bytea_output = 'hex'`);
      // No dedup token: these rows are copied again on purpose.
      await insertTsv(ch, plan, client.query(copyTo(`COPY (${select}) TO STDOUT`)), undefined);
    });
    heartbeat();
  }
}

/** Both sides compared by key; with `repair`, each differing group is fixed as it is found. */
async function compare(pg: Pool, ch: ClickHouseTarget, plan: TablePlan, shape: KeyShape, input: KeyVerifyInput, repair: boolean, heartbeat: () => void) {
  const buckets = input.buckets ?? KEY_BUCKETS;
  const first = await scan(pg, ch, plan, shape, input, buckets, heartbeat);
  const report = emptyReport();
  let deleted = 0;
  let copied = 0;
  const differing = differingBuckets(first.pgDigests, first.chDigests);
  for (const group of groupBuckets(differing, first.pgDigests, first.chDigests)) {
    const s = await scan(pg, ch, plan, shape, input, buckets, heartbeat, new Set(group));
    const diff = diffKeys(s.pg, s.ch);
    addToReport(report, diff);
    if (!repair) continue;
    const extra = shape.repairExtra ? diff.extra : [];
    const del = [...diff.stale, ...diff.missing, ...extra].map((k) => s.pg.get(k) ?? s.pgDeleted.get(k) ?? s.ch.get(k)!);
    const copy = [...diff.stale, ...diff.missing].map((k) => s.pg.get(k)!);
    // A row soft-deleted in PostgreSQL is copied with its flag, as a sync would have.
    for (const k of extra) if (s.pgDeleted.has(k)) copy.push(s.pgDeleted.get(k)!);
    await repairKeys(pg, ch, plan, shape, del, copy, heartbeat);
    deleted += del.length;
    copied += copy.length;
  }
  const comparison: KeyComparison = { rows: first.pgDigests.total(), clickhouseRows: first.chDigests.total(), pending: first.pending, buckets, report };
  return { comparison, deleted, copied };
}

/** `pg2ch verify` by row key (see core/key-verify.ts); with repair, compares again afterwards. */
export async function verifyByKey(pg: Pool, ch: ClickHouseTarget, ctx: Context, input: KeyVerifyInput): Promise<KeyVerifyResult> {
  const { plan } = input;
  const shape = keyShape(plan);
  const heartbeat = () => ctx.heartbeat();
  // Also while a query has not sent its first row yet (FINAL over a big table takes a while).
  const timer = setInterval(heartbeat, 5_000);
  try {
    const head = { key: shape.key, final: shape.final };
    const found = await compare(pg, ch, plan, shape, input, input.repair === true, heartbeat);
    const r = found.comparison.report;
    if (!input.repair || r.missing + r.extra + r.stale === 0) return { ...head, ...found.comparison };
    const again = await compare(pg, ch, plan, shape, input, false, heartbeat);
    return { ...head, ...again.comparison, repaired: { before: r, deleted: found.deleted, copied: found.copied } };
  } finally {
    clearInterval(timer);
  }
}

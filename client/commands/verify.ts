import type { TableSettings } from '../../core/table-settings';
import type { Client } from '@temporalio/client';
import { ConfigError, type TemporalConfig } from '../../core/config';
import { UserError } from '../../core/errors';
import { cursorBoundsError } from '../../core/ranges';
import type { RangeDigest } from '../../core/row-digest';
import type { KeyVerifyResult } from '../../activities/key-verify';
import type { KeyReport } from '../../core/key-verify';
import { verifyTable, type VerifyResult } from '../../workflows/verify';
import { failureMessage } from '../failure-message';
import { followProgress, throughput, type ProgressMode } from '../progress-view';
import { workerPolling } from '../temporal-client';
import { keyOf } from './sync';

/** Runs the verify workflow through a worker and waits for its verdict. */
export async function runVerify(
  client: Client,
  temporal: TemporalConfig,
  table: string,
  o: { fromId?: string; toId?: string; repair?: boolean; progress: ProgressMode; settings?: TableSettings },
  out: (line: string) => void,
): Promise<VerifyResult> {
  const key = keyOf(table);
  const bad = cursorBoundsError(o.fromId, o.toId);
  if (bad) throw new ConfigError(bad);
  if (!(await workerPolling(client, temporal))) {
    throw new UserError(`no worker is polling task queue ${temporal.taskQueue}, and verify reads both databases through one; start it with: pg2ch worker`, 'NoWorker');
  }
  const handle = await client.workflow.start(verifyTable, {
    workflowId: `verify:${key}:${new Date().toISOString()}`,
    taskQueue: temporal.taskQueue,
    args: [{ table: key, fromId: o.fromId, toId: o.toId, repair: o.repair, settings: o.settings }],
    staticSummary: `Verify ${key}: PostgreSQL and ClickHouse compared by id ranges (count, min/max id, checksum of row values), or by row key against FINAL for timestamp cursors and updated mode`,
    memo: { table: key },
  });
  try {
    return await followProgress(handle, handle.result(), o.progress, out);
  } catch (err) {
    throw new UserError(`verify of ${key} failed: ${failureMessage(err)}`, 'VerifyFailed');
  }
}

const side = (d: RangeDigest) => `${d.rows} rows${d.rows ? `, ids ${d.minId}-${d.maxId}` : ''}, checksum ${d.checksum}`;

export function formatVerify(r: VerifyResult): string {
  if (r.byKey) return formatByKey(r.table, r.byKey, r.elapsedMs);
  const range = `ids (${r.afterId ?? 'start'}, ${r.upTo}]`;
  const repaired = r.repaired === undefined ? '' : `repaired ${r.table}: ${r.repaired} missing rows copied into ClickHouse\n`;
  return repaired + verdict(r, range);
}

function verdict(r: VerifyResult, range: string): string {
  if (r.upTo === null) {
    return `verified ${r.table}: PostgreSQL and ClickHouse are equal: neither has a row${r.afterId === null ? '' : ` after id ${r.afterId}`}`;
  }
  if (r.equal) return `verified ${r.table}: PostgreSQL and ClickHouse are equal over ${range}: ${r.rows} rows in ${r.buckets} buckets, ${throughput(r.rows, r.elapsedMs)}`;
  return [
    `verified ${r.table}: ${r.mismatches.length}${r.mismatches.length >= 100 ? '+' : ''} ranges differ over ${range} (${r.rows} rows in PostgreSQL)${r.repaired === undefined ? '' : ' after the repair (changed values or rows only ClickHouse has)'}:`,
    ...r.mismatches.map((m) => `  (${m.afterId ?? 'start'}, ${m.toId}]: PostgreSQL ${side(m.postgres)}; ClickHouse ${side(m.clickhouse)}`),
  ].join('\n');
}

const differing = (r: KeyReport) => r.missing + r.extra + r.stale;
const kinds = (r: KeyReport) => `${r.stale} stale, ${r.missing} missing, ${r.extra} extra`;

/** Each kind of difference with its first keys; the counts are exact, the keys bounded. */
function keyLines(r: KeyReport): string[] {
  const what = { stale: 'stale (values differ)', missing: 'missing in ClickHouse', extra: 'extra in ClickHouse (not in PostgreSQL)' } as const;
  return (['stale', 'missing', 'extra'] as const)
    .filter((k) => r[k] > 0)
    .map((k) => `  ${what[k]}: ${r[k]} key${r[k] === 1 ? '' : 's'}: ${r.samples[k].join('; ')}${r[k] > r.samples[k].length ? `; ... (${r[k] - r.samples[k].length} more)` : ''}`);
}

/** The verdict of a verify by row key. */
export function formatByKey(table: string, r: KeyVerifyResult, elapsedMs: number): string {
  const how = `by key (${r.key.join(', ')})${r.final ? ', ClickHouse read with FINAL' : ''}`;
  const pending = r.pending > 0 ? `; ${r.pending} rows changed in PostgreSQL after the last sync were not compared (run pg2ch sync ${table} first)` : '';
  const lines: string[] = [];
  if (r.repaired) {
    lines.push(`repaired ${table}: ${kinds(r.repaired.before)} found; ${r.repaired.deleted} keys deleted in ClickHouse, then ${r.repaired.copied} rows copied from PostgreSQL`);
  }
  if (differing(r.report) === 0) {
    lines.push(`verified ${table}: PostgreSQL and ClickHouse are equal ${how}: ${r.rows} rows in ${r.buckets} hash buckets, ${throughput(r.rows, elapsedMs)}${pending}`);
  } else {
    lines.push(`verified ${table}: ${differing(r.report)} rows differ ${how}${r.repaired ? ' after the repair' : ''} (${r.rows} rows in PostgreSQL, ${r.clickhouseRows} in ClickHouse): ${kinds(r.report)}${pending}`);
    lines.push(...keyLines(r.report));
  }
  return lines.join('\n');
}

import type { TableSettings } from '../../core/table-settings';
import type { Client } from '@temporalio/client';
import { ConfigError, type TemporalConfig } from '../../core/config';
import { UserError } from '../../core/errors';
import { cursorBoundsError } from '../../core/ranges';
import type { RangeDigest } from '../../core/row-digest';
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
    staticSummary: `Verify ${key}: PostgreSQL and ClickHouse compared by id ranges (count, min/max id, checksum of row values)`,
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

import { setHandler } from '@temporalio/workflow';
import { readStatus } from './activity-proxies';
import { newTotals, progressOf, progressQuery, type Stage } from './progress';
import type { TableStatus } from '../activities/status';
import type { TableSettings } from '../core/table-settings';

/**
 * `pg2ch status` reads ClickHouse and PostgreSQL through a worker: the
 * embedded engine can only be opened by the process that holds it.
 */
export async function tableStatus(input: { tables?: string[]; settings?: Record<string, TableSettings>; defaults?: TableSettings }): Promise<TableStatus[]> {
  let stage: Stage = 'prepare';
  const totals = newTotals(Date.now());
  setHandler(progressQuery, () => progressOf('status', (input.tables ?? ['all']).join(', '), totals, { stage, currentRange: null }, Date.now()));
  const out = await readStatus(input);
  stage = 'done';
  return out;
}

import { readStatus } from './activity-proxies';
import type { TableStatus } from '../activities/status';

/**
 * `pg2ch status` reads ClickHouse and PostgreSQL through a worker: the
 * embedded engine can only be opened by the process that holds it.
 */
export async function tableStatus(input: { tables?: string[] }): Promise<TableStatus[]> {
  return readStatus(input);
}

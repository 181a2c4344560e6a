import { redact } from './errors';
import { BACKFILL_ID_PREFIX } from './workflow-ids';

/**
 * PG2CH_LOG_FORMAT=json: one JSON object per line, for log shippers. The
 * SDK's logger meta (workflow and activity context) is flattened into
 * fields a query can filter on; every string is scrubbed of the secrets.
 */
export interface LogRecord {
  level: string;
  /** Epoch nanoseconds, as the SDK's log entries carry it. */
  timestampNanos: bigint;
  message: string;
  meta?: Record<string, unknown>;
}

/** Meta the SDK adds that is noise in a log line (an opaque token) or said by a field of its own. */
const DROPPED = new Set(['taskToken', 'workflowRunId']);

/** The table a workflow works on, from its id (sync:<table>, backfill:<table>:<range>). */
export function tableOfWorkflowId(workflowId: unknown): string | undefined {
  if (typeof workflowId !== 'string') return undefined;
  if (workflowId.startsWith('sync:')) return workflowId.slice('sync:'.length);
  if (workflowId.startsWith(BACKFILL_ID_PREFIX)) {
    const rest = workflowId.slice(BACKFILL_ID_PREFIX.length);
    const cut = rest.lastIndexOf(':');
    return cut > 0 ? rest.slice(0, cut) : rest;
  }
  return undefined;
}

function scrubbed(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return redact(value, secrets);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return redact(value.message, secrets);
  if (Array.isArray(value)) return value.map((v) => scrubbed(v, secrets));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubbed(v, secrets)]));
  }
  return value;
}

/** One log line, without its newline. */
export function jsonLogLine(record: LogRecord, secrets: readonly string[] = []): string {
  const meta = record.meta ?? {};
  const { workflowId, workflowRunId, runId, activityType, attempt, table, ...rest } = meta;
  const out: Record<string, unknown> = {
    level: record.level.toLowerCase(),
    time: new Date(Number(record.timestampNanos / 1_000_000n)).toISOString(),
    message: record.message,
  };
  const tableName = table ?? tableOfWorkflowId(workflowId);
  if (tableName !== undefined) out.table = tableName;
  if (workflowId !== undefined) out.workflowId = workflowId;
  if ((workflowRunId ?? runId) !== undefined) out.runId = workflowRunId ?? runId;
  if (activityType !== undefined) out.activityType = activityType;
  if (attempt !== undefined) out.attempt = attempt;
  for (const [k, v] of Object.entries(rest)) if (!DROPPED.has(k) && v !== undefined) out[k] = v;
  return JSON.stringify(scrubbed(out, secrets));
}

/** A line of pg2ch's own (the worker's start, a CLI error) in the format PG2CH_LOG_FORMAT asks for. */
export function formatOwnLine(format: string | undefined, level: 'info' | 'error', text: string, secrets: readonly string[] = [], now = Date.now()): string {
  if (format !== 'json') return text;
  return jsonLogLine({ level, timestampNanos: BigInt(now) * 1_000_000n, message: text }, secrets);
}

import { ConfigError } from './config';
import { redact } from './errors';

/**
 * What a user sees of a sync that stops moving: the activity Temporal keeps
 * retrying, its attempt and last error, and a plain warning once nothing has
 * moved for PG2CH_STALL_WARN_AFTER. Pure: the CLI feeds it what describe()
 * of the workflow returns.
 */
export interface RetryInfo {
  /** Activity type, e.g. insertBatch. */
  activity: string;
  attempt: number;
  /** One line, scrubbed of credentials. */
  lastError: string;
  /** Epoch ms of the last failed attempt, when Temporal reports it. */
  lastFailedAt: number | null;
}

export const DEFAULT_STALL_WARN_AFTER_MS = 3 * 60_000;
const DURATION = /^(\d+)(ms|s|m|h)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** PG2CH_STALL_WARN_AFTER: 90s, 5m, 1h, or plain seconds; 0 turns the warning off. */
export function stallWarnAfterMs(env: Record<string, string | undefined>): number {
  const raw = env.PG2CH_STALL_WARN_AFTER?.trim();
  if (!raw) return DEFAULT_STALL_WARN_AFTER_MS;
  const m = DURATION.exec(raw);
  if (!m) throw new ConfigError(`PG2CH_STALL_WARN_AFTER must be a duration such as 90s, 5m or 1h (0 turns the warning off), got ${JSON.stringify(raw)}`);
  return Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS];
}

/** One line of an error, credentials in URLs masked: a failure message may come from any activity or the server. */
export function oneLine(message: string): string {
  const line = message.split('\n').find((l) => l.trim().length > 0) ?? message;
  const scrubbed = redact(line.trim(), []);
  return scrubbed.length > 300 ? scrubbed.slice(0, 300) + '…' : scrubbed;
}

interface PendingActivityLike {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  lastFailure?: { message?: string | null } | null;
}

/**
 * The pending activity that has failed at least once (attempt 2 or more with a
 * last failure), the one holding the workflow back; the highest attempt wins.
 */
export function retryOf<P extends PendingActivityLike>(pending: readonly P[], failedAt: (p: P) => number | undefined): RetryInfo | undefined {
  let worst: RetryInfo | undefined;
  for (const p of pending) {
    const attempt = p.attempt ?? 1;
    const message = p.lastFailure?.message;
    if (attempt < 2 || !message) continue;
    if (worst && worst.attempt >= attempt) continue;
    worst = { activity: p.activityType?.name ?? 'activity', attempt, lastError: oneLine(message), lastFailedAt: failedAt(p) ?? null };
  }
  return worst;
}

const clock = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/** "retrying insertBatch (attempt 4, last failed 2026-12-02T01:02:03Z): PostgreSQL 53300: ..." */
export function retryLine(r: RetryInfo): string {
  const when = r.lastFailedAt === null ? '' : `, last failed ${clock(r.lastFailedAt)}`;
  return `retrying ${r.activity} (attempt ${r.attempt}${when}): ${r.lastError}`;
}

/** The plain warning once a copy has not moved for a while. */
export function stallLine(what: string, sinceMs: number, now: number, retry: RetryInfo | undefined): string {
  const why = retry
    ? `it keeps failing: ${retryLine(retry)}; it goes on by itself once the cause is fixed`
    : 'no activity has failed: check that a worker polls its task queue (pg2ch status)';
  return `warning: ${what} has not moved for ${duration(now - sinceMs)} (since ${clock(sinceMs)}); ${why}`;
}

import type { WorkflowHandle } from '@temporalio/client';
import cliProgress from 'cli-progress';
import { retryLine, stallLine, type RetryInfo } from '../core/stall';
import { progressQuery, type Progress } from '../workflows/progress';
import { describeCursorValue } from '../core/keyset';
import type { WorkflowHealth } from './workflow-health';

/** tty: a live bar on stderr; plain: a line now and then; json: one JSON object per line. */
export type ProgressMode = 'tty' | 'plain' | 'json';

export function progressMode(opts: { json?: boolean }, stream: { isTTY?: boolean } = process.stderr): ProgressMode {
  if (opts.json) return 'json';
  return stream.isTTY ? 'tty' : 'plain';
}

const fmt = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** "12.3 s (45678 rows/s)": how long a copy took and how fast it went. */
export function throughput(rows: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? Math.round((rows * 1000) / elapsedMs) : 0;
  return `${(elapsedMs / 1000).toFixed(1)} s (${rate} rows/s)`;
}

/** One readable line of a progress report, as printed when the output is not a terminal. */
export function progressLine(p: Progress): string {
  const of = p.rowsExpected !== null ? ` of ~${fmt(p.rowsExpected)}` : '';
  const pct = p.rowsExpected ? ` (${Math.min(100, Math.floor((p.rowsCopied * 100) / Math.max(1, p.rowsExpected)))}%)` : '';
  const parts = p.partitions ? `, partitions ${p.partitions.done}/${p.partitions.total} done, ${p.partitions.running} running` : '';
  const range = p.currentRange ? `, range (${p.currentRange.afterId === null ? 'start' : describeCursorValue(p.currentRange.afterId)}, ${describeCursorValue(p.currentRange.toId)}]` : '';
  const cut = p.chunkRows ? `, chunks cut to ${fmt(p.chunkRows.now)} rows (too big for ClickHouse at ${fmt(p.chunkRows.configured)})` : '';
  return `${p.kind} ${p.table}: ${fmt(p.rowsCopied)}${of} rows${pct}, ${p.chunks} chunks${parts}, ${fmt(p.rowsPerSecond)} rows/s${range}${cut}`;
}

/**
 * Watching for a copy that does not move: describe() of the workflow gives the
 * activity Temporal retries (its attempt and last error: retries happen in the
 * server, the workflow does not see them) and whether a worker polls its queue.
 */
export interface StallWatch {
  health: () => Promise<WorkflowHealth | undefined>;
  /** Warn once nothing has moved for this long; 0: never. */
  stallAfterMs: number;
}

const POLL_MS = 1000;
const HEALTH_EVERY_MS = 3000;
const PLAIN_EVERY_MS = 5000;
const QUERY_TIMEOUT_MS = 3000;

/** A workflow's progress, or undefined when it does not answer within a few seconds (no worker, between runs). */
export async function queryProgress(handle: WorkflowHandle): Promise<Progress | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), QUERY_TIMEOUT_MS)));
  try {
    return await Promise.race([handle.query(progressQuery).catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Shows a workflow's `progress` query until `done` settles, then returns
 * its value. The progress never decides the outcome: only `done` does.
 */
export async function followProgress<T>(
  handle: WorkflowHandle,
  done: Promise<T>,
  mode: ProgressMode,
  out: (line: string) => void,
  watch?: StallWatch,
): Promise<T> {
  let bar: cliProgress.SingleBar | undefined;
  let lastPlain = 0;
  let lastJson = '';
  let stopped = false;
  let retry: RetryInfo | undefined;
  let lastRetryShown = '';
  // The first look is a few seconds in: a sync that finishes at once pays no describe().
  let lastHealthAt = Date.now();
  // Since when nothing moved: the workflow's last checkpoint, or what this command saw change.
  const startedAt = Date.now();
  let seen = '';
  let seenMovedAt = startedAt;
  let stallWarned = false;
  const note = (line: string) => {
    if (mode === 'json') out(JSON.stringify({ type: 'warning', message: line }));
    else if (bar) process.stderr.write(`\n${line}\n`);
    else out(line);
  };
  const watchHealth = async (p: Progress | undefined) => {
    if (!watch || Date.now() - lastHealthAt < HEALTH_EVERY_MS) return;
    lastHealthAt = Date.now();
    const health = await watch.health();
    retry = health?.retry;
    const shown = retry ? `${retry.activity}:${retry.attempt}:${retry.lastError}` : '';
    if (retry && shown !== lastRetryShown && mode !== 'json') note(retryLine(retry));
    lastRetryShown = shown;
    const key = p ? `${p.rowsCopied}:${p.lastId}:${p.chunks}:${p.stage}` : '';
    if (key !== seen) {
      seen = key;
      seenMovedAt = Date.now();
    }
    const movedAt = Math.max(seenMovedAt, p?.lastProgressAt ?? startedAt);
    if (Date.now() - movedAt < watch.stallAfterMs || watch.stallAfterMs <= 0) {
      stallWarned = false;
    } else if (!stallWarned && p?.stage !== 'done') {
      stallWarned = true;
      const what = p ? `the ${p.kind} of ${p.table}` : `workflow ${handle.workflowId}`;
      note(
        health?.pollers === 0
          ? `warning: ${what} has not moved since ${new Date(movedAt).toISOString()}: no worker polls task queue ${health.taskQueue}; start one with: PG2CH_TASK_QUEUE=${health.taskQueue} pg2ch worker`
          : stallLine(what, movedAt, Date.now(), retry),
      );
    }
  };
  const show = (p: Progress) => {
    if (retry) p = { ...p, retry } as Progress;
    if (mode === 'json') {
      const line = JSON.stringify({ type: 'progress', ...p, elapsedMs: undefined });
      if (line !== lastJson) out(JSON.stringify({ type: 'progress', ...p }));
      lastJson = line;
    } else if (mode === 'plain') {
      if (Date.now() - lastPlain >= PLAIN_EVERY_MS && p.stage !== 'prepare') {
        lastPlain = Date.now();
        out(progressLine(p));
      }
    } else {
      const total = Math.max(p.rowsExpected ?? 0, p.rowsCopied, 1);
      const retrying = retry ? ` | retry ${retry.attempt}: ${retry.lastError.slice(0, 60)}` : '';
      const payload = { table: `${p.kind} ${p.table}`, rate: fmt(p.rowsPerSecond), chunks: p.chunks, extra: (p.partitions ? ` | partitions ${p.partitions.done}/${p.partitions.total}` : '') + retrying };
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: '{table} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | {chunks} chunks{extra}',
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, p.rowsCopied, payload);
      } else {
        bar.setTotal(total);
        bar.update(p.rowsCopied, payload);
      }
    }
  };
  const poll = (async () => {
    while (!stopped) {
      const p = await queryProgress(handle);
      if (!stopped) await watchHealth(p);
      if (p && !stopped) show(p);
      await Promise.race([new Promise((r) => setTimeout(r, POLL_MS)), done.catch(() => undefined)]);
    }
  })();
  try {
    return await done;
  } finally {
    stopped = true;
    await poll;
    // The last report shows the finished state.
    const p = await queryProgress(handle);
    retry = undefined;
    if (p) {
      if (mode === 'plain') lastPlain = 0;
      show(p);
    }
    bar?.stop();
  }
}

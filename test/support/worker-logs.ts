import { appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { afterEach, beforeEach } from 'vitest';

/**
 * Workers started in a test's own process log into a buffer and a file, not
 * onto the suite's output: a passing test prints nothing of them, a failing
 * one prints the lines logged since the test before it ended.
 */
const lines: string[] = [];
let file: string | undefined;
let shownFrom = 0;

function format(e: LogEntry): string {
  // The task token is an opaque blob as long as the rest of the line.
  const { taskToken: _, ...rest } = e.meta ?? {};
  const meta = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}` : '';
  return `${new Date(Number(e.timestampNanos / 1_000_000n)).toISOString()} [${e.level}] ${e.message}${meta}`;
}

/** Called before the first worker of this process: the SDK's runtime takes its logger once. */
export function routeWorkerLogs(testFile: string, dir = tmpdir()): void {
  if (file !== undefined) return;
  mkdirSync(join(dir, 'worker-logs'), { recursive: true });
  file = join(dir, 'worker-logs', `${basename(testFile)}-${process.pid}.log`);
  Runtime.install({
    logger: new DefaultLogger('INFO', (e) => {
      const line = format(e);
      lines.push(line);
      appendFileSync(file!, line + '\n');
    }),
  });
}

// onTestFailed runs after afterEach: the start is taken when the test starts.
beforeEach((ctx) => {
  const from = shownFrom;
  ctx.onTestFailed(() => {
    if (lines.length === from) return;
    process.stderr.write(`--- worker logs since the previous test (all in ${file}) ---\n${lines.slice(from).join('\n')}\n--- end of worker logs ---\n`);
  });
});

afterEach(() => {
  shownFrom = lines.length;
});

import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startClickHouseServer } from '../../devstack/clickhouse-server';
import { startEmbeddedPostgres } from '../../devstack/embedded-postgres';
import { startTemporalDevServer } from '../../devstack/temporal-dev-server';
import { WORKFLOWS_PATH } from '../../worker/workflow-bundle';
import './services';

// Passwords are deliberately present so tests can prove they never leak.
export const PG_PASSWORD = 'pg-Pa55word-x91';
export const CH_PASSWORD = 'ch-Pa55word-q27';

/** Starts the real services once for the whole suite and bundles the workflows once. */
export default async function setup(project: TestProject) {
  const workDir = mkdtempSync(join(tmpdir(), 'pg2ch-test-'));
  // Embedded PostgreSQL runs as the postgres OS user when we are root.
  chmodSync(workDir, 0o755);
  const started: Array<() => Promise<void>> = [];
  const log = (s: string) => process.stderr.write(`[setup] ${s}\n`);
  try {
    // Each service is registered for stopping as soon as it is up, and all
    // starts are awaited, so one that fails does not leave the others running.
    const up = <T extends { stop: () => Promise<void> }>(p: Promise<T>) => p.then((s) => (started.push(s.stop), s));
    const starts = [
      up(startEmbeddedPostgres({ dataDir: join(workDir, 'pg', 'data'), database: 'pg2ch_test', password: PG_PASSWORD })),
      up(startClickHouseServer({ dir: join(workDir, 'clickhouse-server'), user: 'pg2ch', password: CH_PASSWORD })),
      up(startTemporalDevServer({ dbFile: join(workDir, 'temporal.db'), logFile: join(workDir, 'temporal.log') })),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } }),
    ] as const;
    await Promise.allSettled(starts);
    const [pg, ch, temporal, bundle] = await Promise.all(starts);
    const workflowBundlePath = join(workDir, 'workflow-bundle.js');
    writeFileSync(workflowBundlePath, bundle.code);
    log(`PostgreSQL :${pg.port}, ClickHouse server :${ch.httpPort}, Temporal ${temporal.address}, UI ${temporal.uiUrl}, dir ${workDir}`);
    project.provide('services', {
      pgUrl: pg.url,
      clickhouseUrl: ch.url,
      temporalAddress: temporal.address,
      temporalUiUrl: temporal.uiUrl,
      workflowBundlePath,
      workDir,
    });
  } catch (err) {
    await Promise.allSettled(started.map((s) => s()));
    throw err;
  }
  return async () => {
    await Promise.allSettled(started.map((s) => s()));
  };
}

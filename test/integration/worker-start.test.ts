import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityLogs, seedActivityLogs } from '../../devstack/activity-logs';
import { sourceStamp, WORKFLOW_SOURCES } from '../../scripts/build-stamp.cjs';
import { loadWorkflowBundle } from '../../worker/workflow-bundle';
import { runCli, waitForOutput, type CliRun } from '../support/cli';
import { envFor, pgPool } from '../support/harness';

const ROOT = join(__dirname, '..', '..');

// The README's way: `npm install` (which builds dist/), then `pg2ch worker`
// with nothing but the connection variables. That worker must load the
// workflow bundle built at install, never run webpack at start.
describe('pg2ch worker as the README starts it', () => {
  const table = 'worker_start_logs';
  let pool: pg.Pool;
  const procs: CliRun[] = [];

  beforeAll(async () => {
    // What npm install's prepare script ran (a no-op when dist/ is current).
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.cjs'), '--quiet'], { stdio: 'inherit' });
    pool = pgPool();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await createActivityLogs(pool, table);
    await seedActivityLogs(pool, { firstId: 1, count: 1000, table });
  });

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await pool?.end();
  });

  it('loads dist/workflow-bundle.js without webpack, and syncs through the compiled CLI', async () => {
    const { PG2CH_WORKFLOW_BUNDLE: _testBundle, ...env } = envFor('server', 'it_worker_start', 'it-worker-start');
    const worker = runCli(['worker'], env);
    procs.push(worker);
    await waitForOutput(worker, /pg2ch worker on task queue it-worker-start/);
    expect(worker.stdout()).toMatch(/workflows from dist\/workflow-bundle\.js \(built at install\)$/m);
    expect(worker.stdout() + worker.stderr()).not.toMatch(/webpack|bundling the workflows/i);

    const first = runCli(['sync', table, '--once'], env);
    expect((await first.exit).code, first.stderr()).toBe(0);
    expect(first.stdout()).toMatch(new RegExp(`synced ${table}: 1000 rows copied`));
    // Caught up: the path the start-up bench times.
    const again = runCli(['sync', table, '--once'], env);
    expect((await again.exit).code, again.stderr()).toBe(0);
    expect(again.stdout()).toMatch(new RegExp(`synced ${table}: 0 rows copied`));

    worker.child.kill('SIGTERM');
    expect((await worker.exit).code).toBe(0);
  });
});

describe('the workflow bundle a worker loads', () => {
  const root = mkdtempSync(join(tmpdir(), 'pg2ch-bundle-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  // A package tree whose workflow code the stamps read: the real one's files are never touched.
  const writeTree = (workflowCode: string) => {
    for (const d of ['workflows', 'core', 'dist']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'workflows', 'index.ts'), workflowCode);
    writeFileSync(join(root, 'core', 'x.ts'), 'export {};\n');
  };

  it('is the one built at install while the workflow code is unchanged', async () => {
    writeTree('export const a = 1;\n');
    writeFileSync(join(root, 'dist', 'workflow-bundle.js'), '// bundle\n');
    writeFileSync(join(root, 'dist', 'workflow-bundle.stamp'), sourceStamp(WORKFLOW_SOURCES, root) + '\n');
    const warned: string[] = [];
    const loaded = await loadWorkflowBundle({}, (l) => warned.push(l), root);
    expect(loaded.bundle).toEqual({ codePath: join(root, 'dist', 'workflow-bundle.js') });
    expect(warned).toEqual([]);
  });

  it('is never a stale one: changed workflow code is bundled afresh, with one line saying so', async () => {
    writeTree('export const a = 2; // edited after the build\n');
    const warned: string[] = [];
    const loaded = await loadWorkflowBundle({}, (l) => warned.push(l), root);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/workflow code changed since dist\/workflow-bundle\.js was built; bundling the workflows now with webpack \(npm run build/);
    expect('code' in loaded.bundle && loaded.bundle.code).toContain('syncTable');
    expect(loaded.source).toBe('bundled at start (webpack)');
  });

  it('PG2CH_WORKFLOW_BUNDLE names one explicitly', async () => {
    const loaded = await loadWorkflowBundle({ PG2CH_WORKFLOW_BUNDLE: '/x/bundle.js' }, () => {}, root);
    expect(loaded.bundle).toEqual({ codePath: '/x/bundle.js' });
  });
});

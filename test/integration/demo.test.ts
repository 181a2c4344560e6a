import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clusterDirFor } from '../../devstack/embedded-postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../devstack/free-port';
import { services } from '../support/harness';

const ROOT = join(__dirname, '..', '..');

interface Run {
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal: (s: NodeJS.Signals) => void;
}

/** `npm start` itself (tsx client/demo.ts) as a child process, with its own state directory and ports. */
function startDemo(env: Record<string, string>): Run {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'client', 'demo.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a signal reaches every process in it, as Ctrl-C in a terminal does.
    detached: true,
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return {
    output: () => text,
    exit,
    signal: (s) => {
      try {
        process.kill(-child.pid!, s);
      } catch {
        // already gone
      }
    },
  };
}

async function waitFor(run: Run, pattern: RegExp, timeoutMs = 120_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  run.exit.then(() => (exited = true));
  for (;;) {
    const m = pattern.exec(run.output());
    if (m) return m;
    if (Date.now() > deadline || exited) throw new Error(`no ${pattern} in npm start's output:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm start', () => {
  const state = mkdtempSync(join(tmpdir(), 'pg2ch-demo-'));
  const runs: Run[] = [];
  afterAll(async () => {
    // A run left by a failed assertion: stopped as Ctrl-C would, so its servers stop too.
    for (const r of runs) r.signal('SIGINT');
    await Promise.race([Promise.all(runs.map((r) => r.exit)), new Promise((r) => setTimeout(r, 30_000))]);
    for (const r of runs) r.signal('SIGKILL');
    // As root the cluster may live outside the (private) state directory: see clusterDirFor.
    const cluster = clusterDirFor(join(state, 'postgres', 'data'));
    if (!cluster.startsWith(state)) rmSync(dirname(cluster), { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });

  it('seeds, syncs, compares, keeps syncing on its schedule, stops cleanly on Ctrl-C and resumes', async () => {
    const [temporalPort, uiPort, pgPort] = await freePorts(3);
    const env = {
      PG2CH_STATE_DIR: state,
      PG2CH_DEMO_ROWS: '20000',
      PG2CH_DEMO_EVERY: '3s',
      PG2CH_DEMO_TRICKLE_MS: '1000',
      PG2CH_DEMO_TEMPORAL_PORT: String(temporalPort),
      PG2CH_DEMO_UI_PORT: String(uiPort),
      PG2CH_DEMO_PG_PORT: String(pgPort),
      // Only to skip bundling the workflows again; the demo builds it itself otherwise.
      PG2CH_WORKFLOW_BUNDLE: services().workflowBundlePath,
    };
    const first = startDemo(env);
    runs.push(first);
    await waitFor(first, /seeding activity_logs with 20000 events/);
    await waitFor(first, /synced activity_logs: 20000 rows copied in 1 chunks, last id 20000/);
    expect(first.output()).toContain(`Temporal Web UI: http://127.0.0.1:${uiPort}/namespaces/default/workflows`);
    const table = await waitFor(first, /Performance comparison on this data \(20000 rows[^\n]*\n(.*\n){2}(.*\n){3}/);
    for (const name of ['Event counts by day', 'User activity funnel', 'JSON property extraction']) {
      expect(first.output()).toMatch(new RegExp(`${name}: \\d+ rows in \\d+ ms`));
    }
    for (const q of ['COUNT\\(\\*\\)', 'GROUP BY date', 'Full scan filter']) {
      expect(table[0]).toMatch(new RegExp(`${q}\\s+[\\d.]+ ms\\s+[\\d.]+ ms\\s+[\\d.]+x\\s+\\d+ \\(same in both\\)`));
    }
    // New events arrive, and a scheduled sync copies them.
    await waitFor(first, /\] scheduled sync: synced activity_logs: [1-9]\d* rows copied/, 60_000);
    first.signal('SIGINT');
    expect(await first.exit, first.output()).toEqual({ code: 0, signal: null });
    expect(first.output()).toMatch(/stopping \.\.\.\nstopped\n$/);

    // A second npm start keeps the data and the watermark: nothing is seeded or copied twice.
    const second = startDemo(env);
    runs.push(second);
    await waitFor(second, /activity_logs has \d+ rows from an earlier run: not seeded again/);
    const again = await waitFor(second, /synced activity_logs: (\d+) rows copied/);
    expect(Number(again[1])).toBeLessThan(1000);
    const compared = await waitFor(second, /COUNT\(\*\)\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+x\s+(\d+) \(same in both\)/);
    expect(Number(compared[1])).toBeGreaterThan(20000);
    second.signal('SIGINT');
    expect(await second.exit, second.output()).toEqual({ code: 0, signal: null });
  });
});

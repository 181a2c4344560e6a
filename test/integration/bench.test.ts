import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { services } from '../support/harness';

// A small run of `npm run bench` so the script cannot rot. Timings are
// printed, never asserted; what is asserted is that every path moved exactly
// the rows it should (the script itself fails on any count mismatch).
describe('npm run bench', () => {
  it('measures every path on a small table and reports consistent figures', async () => {
    const s = services();
    const root = join(__dirname, '..', '..');
    const child = spawn(
      process.execPath,
      [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'bench', 'run.ts'), '--rows', '20000', '--repeat', '1', '--chunk-rows', '5000', '--json', '--no-write'],
      {
        env: { ...process.env, PG_URL: s.pgUrl, CLICKHOUSE_URL: s.clickhouseUrl, TEMPORAL_ADDRESS: s.temporalAddress, PG2CH_WORKFLOW_BUNDLE: s.workflowBundlePath },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, err).toBe(0);
    const r = JSON.parse(out.trim().split('\n').pop()!);
    process.stderr.write(`bench (20k rows): ${JSON.stringify(r)}\n`);
    expect(r).toMatchObject({ rows: 20000, chunkRows: 5000, cores: expect.any(Number) });
    expect(r.server.rawMs).toHaveLength(1);
    expect(r.server.pg2chMs).toHaveLength(1);
    expect(r.server.medianRatio).toBeGreaterThan(0);
    expect(r.server.workerPeakRssMb).toBeGreaterThan(50);
    expect(r.server.smallRows).toBe(2000);
    expect(r.embedded.pg2chMs).toBeGreaterThan(0);
    expect(r.embedded.pullMs).toBeGreaterThan(0);
    expect(r.incremental.newRows).toBe(200);
    expect(r.incremental.onFullMs).toBeGreaterThan(0);
  });
});

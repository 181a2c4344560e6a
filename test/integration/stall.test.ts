import { createServer, type Server, type Socket } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../support/cli';
import { envFor, pgPool, services, startWorker, type RunningWorker } from '../support/harness';

/** A TCP server that accepts every connection and never sends a byte: the worst kind of wrong address. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const seconds = (ms: number) => Math.round(ms / 1000);

describe('never stall in silence', () => {
  let pool: pg.Pool;
  const procs: CliRun[] = [];
  const workers: RunningWorker[] = [];

  beforeAll(() => {
    pool = pgPool();
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    for (const w of workers) await w.stop();
    await pool?.end();
  });

  it('a CLICKHOUSE_URL that accepts connections and never answers fails the worker with a line naming it', async () => {
    const silent = await silentServer();
    try {
      const env = envFor('server', 'it_stall', 'it-stall-silent');
      const started = Date.now();
      const run = runCli(['worker'], { ...env, CLICKHOUSE_URL: `http://u:secret-pw@127.0.0.1:${silent.port}` });
      procs.push(run);
      const done = await Promise.race([run.exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000))]);
      expect(done, `still running after 90 s:\n${run.stderr()}`).not.toBe('hung');
      expect((done as { code: number }).code).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines, run.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^pg2ch: cannot use ClickHouse at http://127\\.0\\.0\\.1:${silent.port} \\(CLICKHOUSE_URL\\): no answer within \\d+ s`));
      expect(run.stderr()).not.toContain('secret-pw');
      expect(seconds(Date.now() - started)).toBeLessThan(90);
    } finally {
      await silent.close();
    }
  });
});

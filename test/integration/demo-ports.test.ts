import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../devstack/free-port';
import { portTaken } from '../../devstack/ports';

const ROOT = join(__dirname, '..', '..');

/** `npm start` (tsx client/demo.ts) to its exit. */
function runDemo(env: Record<string, string>): Promise<{ code: number | null; output: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'client', 'demo.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => ((output += d), (stderr += d)));
  // A demo that did start its services is stopped, so a failing assertion leaves nothing running.
  const timer = setTimeout(() => child.kill('SIGINT'), 60_000);
  return new Promise((r) => child.on('exit', (code) => (clearTimeout(timer), r({ code, output, stderr }))));
}

/** A plain TCP server holding a port, as another program would. */
async function occupy(port: number): Promise<Server> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve());
  });
  return srv;
}

describe('npm start with a port already taken', () => {
  const state = mkdtempSync(join(tmpdir(), 'pg2ch-demo-ports-'));
  const held: Server[] = [];
  afterAll(async () => {
    for (const s of held) await new Promise((r) => s.close(r));
    rmSync(state, { recursive: true, force: true });
  });

  it('names the Temporal port, what holds it and the variable that moves it, in one line, exit 2', async () => {
    // The default port when it is free here; otherwise another one, moved by its variable.
    const useDefault = !(await portTaken(7233));
    const [free, ui, pgPort] = await freePorts(3);
    const port = useDefault ? 7233 : free!;
    held.push(await occupy(port));
    const r = await runDemo({
      PG2CH_STATE_DIR: state,
      ...(useDefault ? {} : { PG2CH_DEMO_TEMPORAL_PORT: String(port) }),
      PG2CH_DEMO_UI_PORT: String(ui),
      PG2CH_DEMO_PG_PORT: String(pgPort),
    });
    expect(r.code, r.output).toBe(2);
    expect(r.output).toBe(r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`port ${port} (Temporal) is already in use by `);
    // This test's own process holds it.
    expect(lines[0]).toContain(`(pid ${process.pid})`);
    expect(lines[0]).toContain('PG2CH_DEMO_TEMPORAL_PORT');
    expect(lines[0]).toContain('TEMPORAL_ADDRESS');
  });

  it('does the same for the embedded PostgreSQL port, before starting anything', async () => {
    const [temporal, ui, pgPort] = await freePorts(3);
    held.push(await occupy(pgPort!));
    const r = await runDemo({
      PG2CH_STATE_DIR: state,
      PG2CH_DEMO_TEMPORAL_PORT: String(temporal),
      PG2CH_DEMO_UI_PORT: String(ui),
      PG2CH_DEMO_PG_PORT: String(pgPort),
    });
    expect(r.code, r.output).toBe(2);
    expect(r.output.trimEnd().split('\n'), r.output).toEqual([
      expect.stringMatching(new RegExp(`^pg2ch: port ${pgPort} \\(the embedded PostgreSQL\\) is already in use by .*\\(pid ${process.pid}\\): stop that, or set PG2CH_DEMO_PG_PORT to a free port`)),
    ]);
    // Nothing was started: Temporal's port is still free.
    expect(await portTaken(temporal!)).toBe(false);
  });
});

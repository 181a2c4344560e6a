import type { ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { freePorts, waitFor } from './free-port';
import { spawnService, stopProcess } from './processes';
import { findTemporalCli } from './temporal-cli';

export interface TemporalDevServer {
  address: string;
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** The real Temporal server (CLI dev server, SQLite-persisted) with its Web UI. */
export async function startTemporalDevServer(opts: {
  dbFile: string;
  logFile: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
}): Promise<TemporalDevServer> {
  const cli = findTemporalCli();
  const [freeA, freeB] = (await freePorts(2)) as [number, number];
  const port = opts.port ?? freeA;
  const uiPort = opts.uiPort ?? freeB;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort),
    '--db-filename', opts.dbFile, '--log-level', 'warn', '--namespace', 'default'];
  if (opts.headless) args.push('--headless');
  const child = spawnService(cli, args, opts.logFile);
  const address = `127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the Temporal dev server exited with code ${code}; see ${opts.logFile}`))),
  );
  exited.catch(() => {});
  await Promise.race([
    exited,
    waitFor(`Temporal at ${address}`, 60_000, async () => {
      const c = await Connection.connect({ address, connectTimeout: '1s' });
      try {
        await c.workflowService.describeNamespace({ namespace: 'default' });
      } finally {
        await c.close();
      }
    }),
  ]);
  return { address, uiUrl: `http://127.0.0.1:${uiPort}`, process: child, stop: () => stopProcess(child) };
}

import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createSyncMetrics, type SyncMetrics } from '../activities/metrics';
import { UserError } from '../core/errors';

/** The status read behind lag and pending rows runs at most this often, whatever the scrape rate. */
export const STATUS_REFRESH_MS = 30_000;
/** How long a scrape waits for a due status refresh or the SDK's metrics before answering with what it has. */
const SCRAPE_WAIT_MS = 3_000;

export interface MetricsServer {
  registry: Registry;
  metrics: SyncMetrics;
  /** Reads lag and pending rows of the tables the worker has seen (a status read); called on scrape when due. */
  setRefresh(refresh: () => Promise<void>): void;
  close(): Promise<void>;
}

function splitAddress(address: string): { host: string; port: number } {
  const cut = address.lastIndexOf(':');
  return { host: address.slice(0, cut).replace(/^\[|\]$/g, ''), port: Number(address.slice(cut + 1)) };
}

/** Why a listen failed, as one line naming the address and the variable that moves it. */
function listenError(address: string, err: NodeJS.ErrnoException): UserError {
  const { port } = splitAddress(address);
  const why =
    err.code === 'EADDRINUSE'
      ? `port ${port} is taken by another process`
      : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
        ? 'the host is not an address of this machine'
        : err.code === 'EACCES'
          ? `port ${port} needs privileges this process lacks`
          : err.message;
  return new UserError(`cannot serve metrics on PG2CH_METRICS_ADDRESS ${address}: ${why}; set PG2CH_METRICS_ADDRESS to a free host:port`, 'MetricsAddress');
}

function listen(server: Server, address: string): Promise<void> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenError(address, err)));
    server.listen(port, host, () => resolve());
  });
}

async function sdkMetrics(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_WAIT_MS) });
    return res.ok ? await res.text() : `# Temporal SDK metrics unavailable: HTTP ${res.status}\n`;
  } catch (err) {
    return `# Temporal SDK metrics unavailable: ${(err as Error).message}\n`;
  }
}

/**
 * Serves GET /metrics on `address`: pg2ch's metrics, then the Temporal SDK's
 * own (worker polls, task slots, latencies), which the SDK serves on an
 * internal port (`sdkMetricsUrl`): one address for Prometheus to scrape.
 */
export async function startMetricsServer(address: string, sdkMetricsUrl?: string): Promise<MetricsServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pg2ch_' });
  const metrics = createSyncMetrics(registry);
  let refresh: (() => Promise<void>) | undefined;
  let refreshedAt = 0;
  let running: Promise<void> | undefined;

  /** Starts the status read when due; waits for it a moment so a scrape sees fresh values when it is quick. */
  async function refreshIfDue(): Promise<void> {
    if (!refresh) return;
    if (!running && Date.now() - refreshedAt >= STATUS_REFRESH_MS) {
      refreshedAt = Date.now();
      running = refresh()
        .catch(() => {})
        .finally(() => (running = undefined));
    }
    if (running) await Promise.race([running, new Promise((r) => setTimeout(r, SCRAPE_WAIT_MS).unref())]);
  }

  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('pg2ch serves Prometheus metrics on /metrics\n');
      return;
    }
    void (async () => {
      await refreshIfDue();
      const [own, sdk] = await Promise.all([registry.metrics(), sdkMetricsUrl ? sdkMetrics(sdkMetricsUrl) : Promise.resolve('')]);
      res.writeHead(200, { 'content-type': registry.contentType }).end(`${own}\n${sdk}`);
    })().catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`));
  });
  await listen(server, address);
  return {
    registry,
    metrics,
    setRefresh: (fn) => (refresh = fn),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

import { ApplicationFailure } from '@temporalio/common';
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SyncMetrics } from '../activities/metrics';
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

export function createSyncMetrics(registry: Registry): SyncMetrics {
  const registers = [registry];
  const rows = new Counter({ name: 'pg2ch_rows_copied_total', help: 'Rows copied from PostgreSQL into ClickHouse', labelNames: ['table'], registers });
  const bytes = new Counter({
    name: 'pg2ch_bytes_copied_total',
    help: 'Bytes of TabSeparated text streamed from PostgreSQL into ClickHouse (the pull strategy streams none through the worker)',
    labelNames: ['table'],
    registers,
  });
  const chunks = new Counter({ name: 'pg2ch_chunks_copied_total', help: 'Chunks copied into ClickHouse', labelNames: ['table'], registers });
  const duration = new Histogram({
    name: 'pg2ch_chunk_copy_seconds',
    help: 'Time to copy one chunk (COPY out of PostgreSQL and insert into ClickHouse)',
    labelNames: ['table'],
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  const errors = new Counter({
    name: 'pg2ch_activity_errors_total',
    help: 'Activity failures by kind: retryable (Temporal retries) or non_retryable (the sync fails), and error type',
    labelNames: ['table', 'activity', 'kind', 'type'],
    registers,
  });
  const pendingRows = new Gauge({ name: 'pg2ch_rows_pending', help: 'Rows in PostgreSQL past the watermark, not yet in ClickHouse (estimated when many)', labelNames: ['table'], registers });
  const lagSeconds = new Gauge({
    name: 'pg2ch_lag_seconds',
    help: "Age of the oldest row not yet in ClickHouse by its created_at, 0 when caught up (as pg2ch status shows it)",
    labelNames: ['table'],
    registers,
  });
  const lastCopy = new Gauge({ name: 'pg2ch_last_chunk_timestamp_seconds', help: 'Unix time of the last chunk copied', labelNames: ['table'], registers });
  const slot = new Gauge({ name: 'pg2ch_cdc_slot_lag_bytes', help: 'WAL bytes the replication slot retains behind the current position (CDC)', labelNames: ['slot', 'table'], registers });
  const seen = new Set<string>();
  const pendingNow = new Map<string, number>();
  const setPending = (table: string, n: number) => {
    pendingNow.set(table, n);
    pendingRows.set({ table }, n);
  };
  const see = (table: string) => {
    if (table) seen.add(table);
    return { table };
  };
  return {
    chunkCopied(table, c) {
      const l = see(table);
      rows.inc(l, c.rows);
      bytes.inc(l, c.bytes);
      chunks.inc(l);
      duration.observe(l, c.seconds);
      lastCopy.set(l, Date.now() / 1000);
      // Between status refreshes the estimate moves down with the copy.
      const left = pendingNow.get(table);
      if (left !== undefined) setPending(table, Math.max(0, left - c.rows));
    },
    rowsCopied(table, n) {
      if (n > 0) rows.inc(see(table), n);
    },
    failed(table, activity, err) {
      const nonRetryable = err instanceof ApplicationFailure && err.nonRetryable;
      const type = (err instanceof ApplicationFailure && err.type) || 'UnknownError';
      errors.inc({ table: table || 'unknown', activity, kind: nonRetryable ? 'non_retryable' : 'retryable', type });
    },
    pending(table, n) {
      see(table);
      setPending(table, n);
    },
    caughtUp(table) {
      setPending(see(table).table, 0);
      lagSeconds.set({ table }, 0);
    },
    status(statuses) {
      for (const s of statuses) {
        if (s.error) continue;
        if (s.lagRows !== null) setPending(s.table, s.lagRows);
        if (s.lagSeconds !== null) lagSeconds.set({ table: s.table }, s.lagSeconds);
      }
    },
    slotLag(slotName, table, n) {
      slot.set({ slot: slotName, table }, n);
    },
    tables: () => [...seen],
  };
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

import type { Context } from '@temporalio/activity';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { CopyMeter } from './serialize';

const HEARTBEAT_MS = 2000;

/** Heartbeats every HEARTBEAT_MS with the details of the moment; returns the stop function. */
export function heartbeatEvery(ctx: Context, details: () => unknown): () => void {
  const timer = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_MS);
  return () => clearInterval(timer);
}

/**
 * Streams `COPY ... TO STDOUT` on client into insert, heartbeating rows and
 * bytes as they pass: the chunk copy and the CDC first copy share it, so both
 * keep the activity alive and report PostgreSQL's error, not the broken insert.
 */
export async function copyInto(
  client: pg.PoolClient,
  copySql: string,
  insert: (rows: Readable) => Promise<void>,
  ctx: Context,
): Promise<{ rows: number; bytes: number }> {
  const meter = new CopyMeter();
  const stopBeat = heartbeatEvery(ctx, () => ({ rows: meter.rows, bytes: meter.bytes }));
  const source = client.query(copyTo(copySql));
  // A PostgreSQL error mid-COPY aborts the insert; report the PostgreSQL
  // error, which says what went wrong, not the broken request it caused.
  let copyError: Error | undefined;
  source.on('error', (e) => {
    copyError = e;
    meter.destroy(e);
  });
  // Errors reach us through copyError and the insert's promise; without a
  // listener of its own, pipe() rethrows a late one as an uncaught exception
  // once the ClickHouse client has dropped its listener.
  meter.on('error', () => {});
  source.pipe(meter);
  try {
    await insert(meter);
  } catch (e) {
    source.destroy();
    throw copyError ?? e;
  } finally {
    stopBeat();
  }
  if (copyError) throw copyError;
  return { rows: meter.rows, bytes: meter.bytes };
}

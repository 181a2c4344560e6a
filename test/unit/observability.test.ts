import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { withMetrics } from '../../activities/metrics';
import { createSyncMetrics } from '../../worker/metrics-server';
import { ConfigError, readObservabilityConfig } from '../../core/config';
import { sample } from '../support/prometheus';
import { formatOwnLine, jsonLogLine, tableOfWorkflowId } from '../../core/log-line';

const at = BigInt(Date.UTC(2026, 11, 2, 4, 0, 0, 123)) * 1_000_000n;

describe('readObservabilityConfig', () => {
  it('is off and human by default', () => {
    expect(readObservabilityConfig({})).toEqual({ logFormat: 'human' });
  });

  it('takes host:port for metrics and json for logs', () => {
    expect(readObservabilityConfig({ PG2CH_METRICS_ADDRESS: '0.0.0.0:9464', PG2CH_LOG_FORMAT: 'json' })).toEqual({ metricsAddress: '0.0.0.0:9464', logFormat: 'json' });
    expect(readObservabilityConfig({ PG2CH_METRICS_ADDRESS: '[::1]:9464' }).metricsAddress).toBe('[::1]:9464');
  });

  it.each(['9464', 'localhost', 'http://0.0.0.0:9464', '0.0.0.0:0', '0.0.0.0:70000', ':9464'])('refuses PG2CH_METRICS_ADDRESS %s in one line naming it', (raw) => {
    expect(() => readObservabilityConfig({ PG2CH_METRICS_ADDRESS: raw })).toThrow(ConfigError);
    expect(() => readObservabilityConfig({ PG2CH_METRICS_ADDRESS: raw })).toThrow(/^PG2CH_METRICS_ADDRESS is invalid: expected host:port/);
  });

  it('refuses an unknown log format', () => {
    expect(() => readObservabilityConfig({ PG2CH_LOG_FORMAT: 'JSON ' })).toThrow('PG2CH_LOG_FORMAT is invalid: expected human or json, got "JSON "');
  });
});

describe('jsonLogLine', () => {
  it('flattens the SDK meta into level, time, table, workflow id, activity type and attempt', () => {
    const line = jsonLogLine({
      level: 'INFO',
      timestampNanos: at,
      message: 'chunk copied',
      meta: { sdkComponent: 'activity', taskToken: 'opaque', workflowId: 'sync:public.t', workflowRunId: 'r1', activityType: 'insertBatch', attempt: 2, rows: 5n },
    });
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      level: 'info', time: '2026-12-02T04:00:00.123Z', message: 'chunk copied', table: 'public.t', workflowId: 'sync:public.t', runId: 'r1',
      activityType: 'insertBatch', attempt: 2, sdkComponent: 'activity', rows: '5',
    });
  });

  it('scrubs secrets and URL passwords from the message and every field, nested or in errors', () => {
    const line = jsonLogLine(
      { level: 'WARN', timestampNanos: at, message: 'failed with hunter22', meta: { url: 'postgres://u:pw9@h/db', nested: { e: new Error('bad hunter22') }, list: ['hunter22'] } },
      ['hunter22'],
    );
    expect(line).not.toContain('hunter22');
    expect(line).not.toContain('pw9');
    expect(JSON.parse(line)).toMatchObject({ message: 'failed with ***', url: 'postgres://u:***@h/db', nested: { e: 'bad ***' }, list: ['***'] });
  });

  it('names the table of sync and backfill workflows, and of no other', () => {
    expect(tableOfWorkflowId('sync:public.events')).toBe('public.events');
    expect(tableOfWorkflowId('backfill:public.events:start-500')).toBe('public.events');
    expect(tableOfWorkflowId('scheduled:t-1')).toBeUndefined();
    expect(tableOfWorkflowId(undefined)).toBeUndefined();
  });

  it("pg2ch's own lines stay as they are in the human format", () => {
    expect(formatOwnLine(undefined, 'error', 'pg2ch: x')).toBe('pg2ch: x');
    expect(formatOwnLine('human', 'info', 'started')).toBe('started');
    expect(JSON.parse(formatOwnLine('json', 'error', 'pg2ch: x', [], Number(at / 1_000_000n)))).toEqual({ level: 'error', time: '2026-12-02T04:00:00.123Z', message: 'pg2ch: x' });
  });
});

describe('withMetrics', () => {
  const plan = { key: 'public.t' };

  async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
    return sample(await registry.metrics(), name, labels);
  }

  function instrumented(registry: Registry, insertBatch: () => Promise<unknown>) {
    const acts = {
      prepareTable: async () => ({ plan, pendingRows: 25 }),
      insertBatch,
      readChunk: async (_i: { plan: typeof plan; upTo?: string }) => null,
    };
    return withMetrics(acts as unknown as Record<string, (...a: never[]) => Promise<unknown>>, createSyncMetrics(registry)) as unknown as typeof acts & {
      insertBatch: (i: unknown) => Promise<unknown>;
    };
  }

  it('counts rows, bytes and chunks of copies, not of chunks found in ClickHouse already, and moves pending rows down', async () => {
    const registry = new Registry();
    let skipped = false;
    const a = instrumented(registry, async () => ({ rows: 10, bytes: 300, skipped }));
    await a.prepareTable();
    await a.insertBatch({ plan });
    skipped = true;
    await a.insertBatch({ plan });
    expect(await value(registry, 'pg2ch_rows_copied_total', { table: 'public.t' })).toBe(10);
    expect(await value(registry, 'pg2ch_bytes_copied_total', { table: 'public.t' })).toBe(600);
    expect(await value(registry, 'pg2ch_chunks_copied_total', { table: 'public.t' })).toBe(2);
    expect(await value(registry, 'pg2ch_chunk_copy_seconds_count', { table: 'public.t' })).toBe(2);
    expect(await value(registry, 'pg2ch_rows_pending', { table: 'public.t' })).toBe(15);
    await a.readChunk({ plan, upTo: '9' });
    expect(await value(registry, 'pg2ch_rows_pending', { table: 'public.t' })).toBe(15);
    await a.readChunk({ plan });
    expect(await value(registry, 'pg2ch_rows_pending', { table: 'public.t' })).toBe(0);
    expect(await value(registry, 'pg2ch_lag_seconds', { table: 'public.t' })).toBe(0);
  });

  it('counts failures by kind and type, and rethrows them unchanged', async () => {
    const registry = new Registry();
    const failures = [
      ApplicationFailure.retryable('down', 'NetworkError'),
      ApplicationFailure.nonRetryable('no', 'PostgresAuth'),
      new CancelledFailure('the worker is stopping'),
      ApplicationFailure.retryable('down again', 'NetworkError'),
    ];
    let n = 0;
    const a = instrumented(registry, async () => {
      throw failures[n++];
    });
    for (const f of failures) await expect(a.insertBatch({ plan })).rejects.toBe(f);
    expect(await value(registry, 'pg2ch_activity_errors_total', { table: 'public.t', activity: 'insertBatch', kind: 'retryable', type: 'NetworkError' })).toBe(2);
    expect(await value(registry, 'pg2ch_activity_errors_total', { table: 'public.t', activity: 'insertBatch', kind: 'non_retryable', type: 'PostgresAuth' })).toBe(1);
    expect(await value(registry, 'pg2ch_activity_errors_total', { type: 'UnknownError' })).toBeUndefined();
    expect(await value(registry, 'pg2ch_rows_copied_total', { table: 'public.t' })).toBeUndefined();
  });
});

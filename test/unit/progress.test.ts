import { describe, expect, it } from 'vitest';
import { backfillInput } from '../../client/commands/backfill';
import { progressLine, progressMode } from '../../client/progress-view';
import { detailsMarkdown, newTotals, progressOf } from '../../workflows/progress';

describe('progressOf', () => {
  it('derives rows/s from the elapsed time', () => {
    const t = { ...newTotals(1_000), rows: 50_000, chunks: 5, expectedRows: 100_000 };
    const p = progressOf('sync', 'logs', t, { stage: 'insertBatch', currentRange: { afterId: '10', toId: '20' } }, 3_000);
    expect(p).toMatchObject({ rowsCopied: 50_000, rowsExpected: 100_000, rowsPerSecond: 25_000, elapsedMs: 2_000, chunks: 5 });
  });
  it('reports 0 rows/s before any time has passed', () => {
    expect(progressOf('sync', 'logs', newTotals(5), { stage: 'prepare', currentRange: null }, 5).rowsPerSecond).toBe(0);
  });
});

describe('progress text', () => {
  const p = progressOf(
    'backfill',
    'activity_logs',
    { ...newTotals(0), rows: 1_234_567, chunks: 12, expectedRows: 2_000_000 },
    { stage: 'insertBatch', currentRange: null },
    10_000,
  );
  it('prints a plain line with rows, share, rate and partitions', () => {
    expect(progressLine({ ...p, partitions: { total: 4, done: 1, running: 2 } })).toBe(
      'backfill activity_logs: 1,234,567 of ~2,000,000 rows (61%), 12 chunks, partitions 1/4 done, 2 running, 123,457 rows/s',
    );
  });
  it('gives the Web UI Markdown with the current range', () => {
    const md = detailsMarkdown({ ...p, currentRange: { afterId: null, toId: '500' } });
    expect(md).toContain('**backfill of activity_logs**');
    expect(md).toContain('1,234,567 of ~2,000,000 (61%)');
    expect(md).toContain('current range: (start, 500]');
  });
  it('caps the share at 100% when more rows arrived than expected', () => {
    expect(progressLine({ ...p, rowsCopied: 3_000_000 })).toContain('(100%)');
  });
});

describe('progressMode', () => {
  it('is json when asked, a bar on a terminal, plain lines otherwise', () => {
    expect(progressMode({ json: true }, { isTTY: true })).toBe('json');
    expect(progressMode({}, { isTTY: true })).toBe('tty');
    expect(progressMode({}, { isTTY: false })).toBe('plain');
  });
});

describe('backfillInput', () => {
  it('fills defaults and names the table by its key (public is implied)', () => {
    expect(backfillInput('public.logs', {})).toMatchObject({ table: 'logs', partitions: 4, parallel: 2 });
  });
  it('accepts int8 extremes and refuses what is beyond them', () => {
    expect(backfillInput('t', { fromId: '-9223372036854775808', toId: '9223372036854775807' }).toId).toBe('9223372036854775807');
    expect(() => backfillInput('t', { toId: '9223372036854775808' })).toThrow(/--to-id must be an integer/);
  });
  it('refuses mixed, reversed and malformed ranges', () => {
    expect(() => backfillInput('t', { fromId: '1', until: '2026-01-01' })).toThrow(/not both/);
    expect(() => backfillInput('t', { fromId: '9', toId: '2' })).toThrow(/above --to-id/);
    expect(() => backfillInput('t', { since: '2026-02-01', until: '2026-01-01' })).toThrow(/not before --until/);
    expect(() => backfillInput('t', { since: '01/02/2026' })).toThrow(/ISO date/);
    expect(() => backfillInput('t', { timeColumn: 'ts' })).toThrow(/only with --since/);
    expect(() => backfillInput('"unclosed', {})).toThrow(/unclosed double quote/);
  });
  it('says when the copy last moved and that chunks were cut, in the Web UI and the plain line', () => {
    const cut = progressOf('sync', 't', newTotals(0), { stage: 'insertBatch', currentRange: null, movedAt: Date.UTC(2026, 0, 2), chunkRows: { now: 250_000, configured: 500_000, reason: 'Code: 241' } }, 10);
    expect(cut.lastProgressAt).toBe(Date.UTC(2026, 0, 2));
    const md = detailsMarkdown(cut);
    expect(md).toContain('- chunks cut to 250,000 rows (configured 500,000): Code: 241');
    expect(md).toContain('- last progress: 2026-01-02T00:00:00.000Z');
    expect(progressLine(cut)).toContain(', chunks cut to 250,000 rows (too big for ClickHouse at 500,000)');
  });
});

import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { failoverClient, isUnreachable } from '../../worker/failover-client';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

/** A stand-in replica: records calls; `down` makes every call fail as a refused connection. */
function replica(name: string, state: { down: boolean }, calls: string[]): ClickHouseClient {
  const op = (what: string) => async () => {
    calls.push(`${name}.${what}`);
    if (state.down) throw refused();
    return name;
  };
  return { query: op('query'), command: op('command'), ping: async () => ({ success: !state.down, ...(state.down ? { error: refused() } : {}) }), close: async () => void calls.push(`${name}.close`) } as unknown as ClickHouseClient;
}

describe('failoverClient', () => {
  it('repeats a read on the next replica; a write fails once and the next one goes to the new replica', async () => {
    const calls: string[] = [];
    const a = { down: false };
    const c = failoverClient([replica('a', a, calls), replica('b', { down: false }, calls)]);
    expect(await c.query({ query: 'SELECT 1' })).toBe('a');
    a.down = true;
    expect(await c.query({ query: 'SELECT 1' })).toBe('b');
    expect(await c.command({ query: 'INSERT' })).toBe('b');
    expect(calls).toEqual(['a.query', 'a.query', 'b.query', 'b.command']);
  });

  it('does not repeat a write, and moves on', async () => {
    const calls: string[] = [];
    const c = failoverClient([replica('a', { down: true }, calls), replica('b', { down: false }, calls)]);
    await expect(c.command({ query: 'INSERT' })).rejects.toThrow('ECONNREFUSED');
    expect(await c.command({ query: 'INSERT' })).toBe('b');
    expect(calls).toEqual(['a.command', 'b.command']);
  });

  it('passes other errors through without moving, and closes every replica', async () => {
    const calls: string[] = [];
    const bad = { query: async () => { calls.push('a.query'); throw Object.assign(new Error('Code: 60. Table missing'), { code: '60' }); }, close: async () => void calls.push('a.close') } as unknown as ClickHouseClient;
    const c = failoverClient([bad, replica('b', { down: false }, calls)]);
    await expect(c.query({ query: 'SELECT' })).rejects.toThrow('Table missing');
    await c.close();
    expect(calls).toEqual(['a.query', 'a.close', 'b.close']);
  });

  it('tells unreachable from other errors', () => {
    expect(isUnreachable(refused())).toBe(true);
    expect(isUnreachable(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isUnreachable(new Error('Code: 60, e.displayText() = DB::Exception: Table t does not exist'))).toBe(false);
  });
});

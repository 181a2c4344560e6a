import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { ensureSearchAttributes } from '../../client/search-attributes';

// The registration decision only: the real operator API is exercised by the
// integration tests (the dev server allows it, so the UI test filters by it).
function fakeClient(ops: { list: () => Promise<unknown>; add?: () => Promise<unknown> }): Client {
  return { connection: { operatorService: { listSearchAttributes: ops.list, addSearchAttributes: ops.add ?? (async () => ({})) } } } as unknown as Client;
}

describe('ensureSearchAttributes', () => {
  it('does nothing when the attribute exists', async () => {
    let added = 0;
    const client = fakeClient({ list: async () => ({ customAttributes: { Pg2chTable: 2 } }), add: async () => added++ });
    expect(await ensureSearchAttributes(client, 'default', () => {})).toBe(true);
    expect(added).toBe(0);
  });

  it('registers it when missing', async () => {
    const attrs: Record<string, number> = {};
    const client = fakeClient({
      list: async () => ({ customAttributes: { ...attrs } }),
      add: async () => {
        attrs.Pg2chTable = 2;
        return {};
      },
    });
    expect(await ensureSearchAttributes(client, 'default', () => {})).toBe(true);
    expect(attrs).toEqual({ Pg2chTable: 2 });
  });

  it('warns once and runs without it when the server refuses', async () => {
    const warnings: string[] = [];
    const client = fakeClient({
      list: async () => ({ customAttributes: {} }),
      add: async () => {
        throw new Error('7 PERMISSION_DENIED: Request unauthorized.');
      },
    });
    expect(await ensureSearchAttributes(client, 'default', (l) => warnings.push(l))).toBe(false);
    expect(await ensureSearchAttributes(client, 'default', (l) => warnings.push(l))).toBe(false);
    expect(warnings).toEqual([
      'warning: cannot register the search attribute Pg2chTable (7 PERMISSION_DENIED: Request unauthorized.); running without it, so the Web UI cannot filter by table',
    ]);
  });
});

import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { PG2CH_TABLE } from '../workflows/search-attributes';

let warned = false;

/**
 * Makes sure the namespace has pg2ch's search attribute (Pg2chTable, a
 * Keyword), registering it through the operator API when missing, so the
 * Web UI's list filters by table on any Temporal server. Returns false, with
 * one warning per process, when the server does not allow it: pg2ch then
 * runs without the attribute.
 */
export async function ensureSearchAttributes(client: Client, namespace: string, warn: (line: string) => void): Promise<boolean> {
  const name = PG2CH_TABLE.name;
  try {
    const ops = client.connection.operatorService;
    const existing = await ops.listSearchAttributes({ namespace });
    const all = { ...existing.customAttributes, ...existing.systemAttributes };
    if (name in all) return true;
    await ops.addSearchAttributes({
      namespace,
      searchAttributes: { [name]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
    });
    // Registration is eventually visible; wait briefly so the first start can use it.
    for (let i = 0; i < 20; i++) {
      const now = await ops.listSearchAttributes({ namespace });
      if (name in { ...now.customAttributes }) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return true;
  } catch (err) {
    if (!warned) {
      warned = true;
      const msg = (err as Error).message?.split('\n')[0] ?? String(err);
      warn(`warning: cannot register the search attribute ${name} (${msg}); running without it, so the Web UI cannot filter by table`);
    }
    return false;
  }
}

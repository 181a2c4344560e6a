import type { ClickHouseClient } from '@clickhouse/client';

/** Errors that say the server is not there (refused, reset, unreachable, silent): another replica may answer. */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNABORTED)$/.test(code)) return true;
  return /socket hang up|Timeout error|ECONNREFUSED/.test((err as Error)?.message ?? '');
}

/** Methods that only read: retried at once on the next replica. Writes move on too, and their retry is the activity's. */
const READS = new Set(['query', 'ping']);

/**
 * One client over several replicas' URLs (CLICKHOUSE_URL a,b,...): calls go
 * to the current replica; when it is unreachable the next becomes current.
 * Reads are repeated there at once. A write that failed is not repeated here
 * (it may have reached the server): the activity fails, and its retry lands
 * on the new replica, where the resume check and insert deduplication of
 * Replicated tables keep it exactly-once.
 */
export function failoverClient(clients: ClickHouseClient[], onSwitch?: (from: number, to: number) => void): ClickHouseClient {
  let current = 0;
  const moveFrom = (i: number) => {
    // Several calls failing at once move on once.
    if (current !== i) return;
    current = (i + 1) % clients.length;
    onSwitch?.(i, current);
  };
  const call = (name: string) => async (...args: unknown[]) => {
    const tries = READS.has(name) ? clients.length : 1;
    for (let t = 1; ; t++) {
      const i = current;
      const c = clients[i] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      try {
        const result = await c[name]!.apply(clients[i], args);
        // ping() answers { success: false, error } rather than throwing.
        const failed = name === 'ping' && (result as { success?: boolean }).success === false ? (result as { error: unknown }).error : undefined;
        if (failed === undefined || !isUnreachable(failed) || t >= tries) return result;
        moveFrom(i);
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        moveFrom(i);
        if (t >= tries) throw err;
      }
    }
  };
  return new Proxy(clients[0]!, {
    get(_target, prop) {
      if (prop === 'close') return async () => void (await Promise.all(clients.map((c) => c.close())));
      const value = (clients[current] as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === 'function' ? call(prop as string) : value;
    },
  });
}

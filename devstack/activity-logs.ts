import type { Pool } from 'pg';
import { pgIdent } from '../core/quote';

/** The seed's source table (activity_logs), in PostgreSQL. */
export async function createActivityLogs(pg: Pool, table = 'activity_logs'): Promise<void> {
  const t = pgIdent(table);
  await pg.query(`CREATE TABLE IF NOT EXISTS ${t} (
    id          bigint PRIMARY KEY,
    created_at  timestamp NOT NULL,
    event_name  text NOT NULL,
    user_id     bigint NOT NULL,
    properties  jsonb NOT NULL DEFAULT '{}'
  )`);
}

/**
 * Inserts `count` realistic events with ids firstId.. (generated inside
 * PostgreSQL, so millions of rows take seconds): events over the last
 * `days` days, a skewed mix of event names and users, nested JSON properties.
 */
export async function seedActivityLogs(
  pg: Pool,
  opts: { firstId: bigint | number; count: number; table?: string; days?: number; batch?: number },
): Promise<void> {
  const t = pgIdent(opts.table ?? 'activity_logs');
  const days = opts.days ?? 90;
  const batch = opts.batch ?? 250_000;
  for (let done = 0; done < opts.count; done += batch) {
    const from = BigInt(opts.firstId) + BigInt(done);
    const n = Math.min(batch, opts.count - done);
    await pg.query(
      `INSERT INTO ${t} (id, created_at, event_name, user_id, properties)
       SELECT $1::bigint + g,
              (now() AT TIME ZONE 'UTC') - random() * make_interval(days => $3::int),
              e.name,
              1 + floor(20000 * power(random(), 3))::bigint,
              jsonb_build_object(
                'source', (ARRAY['google','direct','newsletter','facebook','twitter','bing'])[1 + floor(random() * 6)::int],
                'page', '/products/' || (1 + floor(random() * 500)::int),
                'device', jsonb_build_object(
                  'type', (ARRAY['mobile','desktop','tablet'])[1 + floor(random() * 3)::int],
                  'os', (ARRAY['ios','android','windows','macos','linux'])[1 + floor(random() * 5)::int]),
                'session', md5(g::text),
                'amount', CASE WHEN e.name = 'purchase' THEN round((random() * 500)::numeric, 2) END)
         FROM generate_series(0, $2::int - 1) g
         CROSS JOIN LATERAL (SELECT CASE
              WHEN r < 0.55 THEN 'page_view' WHEN r < 0.70 THEN 'click' WHEN r < 0.80 THEN 'add_to_cart'
              WHEN r < 0.88 THEN 'search' WHEN r < 0.92 THEN 'purchase' WHEN r < 0.96 THEN 'signup'
              ELSE 'logout' END AS name
              FROM (SELECT random() + g * 0 AS r) x) e`,
      [from.toString(), n, days],
    );
  }
}

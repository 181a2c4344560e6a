import { chIdent, pgIdent } from '../core/quote';

/**
 * The seed document's three example queries, as written for ClickHouse, and
 * their PostgreSQL equivalents. Tie-breakers are added to ORDER BY so two
 * engines give comparable row orders; LIMITs are kept where the seed has them.
 */
export interface SeedQuery {
  name: string;
  clickhouse: string;
  postgres: string;
}

export function seedQueries(opts: { database: string; table: string; legacy: boolean }): SeedQuery[] {
  const ch = `${chIdent(opts.database)}.${chIdent(opts.table)}`;
  const pg = pgIdent(opts.table);
  // Old servers (no DateTime64) lack JSONExtract, and their visitParam*
  // functions expect no space after the colon, which jsonb's text has; a
  // regular expression reads the flat key there. They also compare a DateTime
  // with a Date as raw numbers, which filters nothing, so there the day is
  // compared as a Date.
  const source = opts.legacy ? `extract(properties, '"source": "([^"]*)"')` : `JSONExtractString(properties, 'source')`;
  const since = (days: number) => (opts.legacy ? `toDate(created_at) >= today() - ${days}` : `created_at >= today() - ${days}`);
  return [
    {
      name: 'Event counts by day',
      clickhouse: `SELECT toString(toDate(created_at)) AS day, event_name, toString(count()) AS events
FROM ${ch}
WHERE ${since(30)}
GROUP BY day, event_name
ORDER BY day, count() DESC, event_name`,
      postgres: `SELECT created_at::date::text AS day, event_name, count(*)::text AS events
FROM ${pg}
WHERE created_at >= current_date - 30
GROUP BY 1, 2
ORDER BY day, count(*) DESC, event_name`,
    },
    {
      name: 'User activity funnel',
      clickhouse: `SELECT toString(user_id) AS uid,
    toString(countIf(event_name = 'page_view')) AS views,
    toString(countIf(event_name = 'add_to_cart')) AS carts,
    toString(countIf(event_name = 'purchase')) AS purchases
FROM ${ch}
WHERE ${since(7)}
GROUP BY user_id
HAVING countIf(event_name = 'page_view') > 0
ORDER BY countIf(event_name = 'purchase') DESC, user_id
LIMIT 100`,
      postgres: `SELECT user_id::text AS uid,
    count(*) FILTER (WHERE event_name = 'page_view')::text AS views,
    count(*) FILTER (WHERE event_name = 'add_to_cart')::text AS carts,
    count(*) FILTER (WHERE event_name = 'purchase')::text AS purchases
FROM ${pg}
WHERE created_at >= current_date - 7
GROUP BY user_id
HAVING count(*) FILTER (WHERE event_name = 'page_view') > 0
ORDER BY count(*) FILTER (WHERE event_name = 'purchase') DESC, user_id
LIMIT 100`,
    },
    {
      name: 'JSON property extraction',
      clickhouse: `SELECT ${source} AS source, toString(count()) AS events
FROM ${ch}
WHERE ${since(1)}
GROUP BY source
ORDER BY count() DESC, source`,
      postgres: `SELECT coalesce(properties->>'source', '') AS source, count(*)::text AS events
FROM ${pg}
WHERE created_at >= current_date - 1
GROUP BY 1
ORDER BY count(*) DESC, source`,
    },
  ];
}

/**
 * The seed's "Performance Comparison" rows, measured on this data: each query
 * for both engines, returning one comparable text value.
 */
export function comparisonQueries(opts: { database: string; table: string; legacy: boolean }): SeedQuery[] {
  const ch = `${chIdent(opts.database)}.${chIdent(opts.table)}`;
  const pg = pgIdent(opts.table);
  const source = opts.legacy ? `extract(properties, '"source": "([^"]*)"')` : `JSONExtractString(properties, 'source')`;
  return [
    {
      name: 'COUNT(*)',
      clickhouse: `SELECT toString(count()) AS answer FROM ${ch}`,
      postgres: `SELECT count(*)::text AS answer FROM ${pg}`,
    },
    {
      name: 'GROUP BY date',
      clickhouse: `SELECT toString(count()) AS answer FROM (SELECT toDate(created_at) AS day, count() AS n FROM ${ch} GROUP BY day)`,
      postgres: `SELECT count(*)::text AS answer FROM (SELECT created_at::date AS day, count(*) AS n FROM ${pg} GROUP BY 1) s`,
    },
    {
      name: 'Full scan filter',
      clickhouse: `SELECT toString(count()) AS answer FROM ${ch} WHERE ${source} = 'google' AND event_name = 'purchase' AND user_id % 7 = 3`,
      postgres: `SELECT count(*)::text AS answer FROM ${pg} WHERE properties->>'source' = 'google' AND event_name = 'purchase' AND user_id % 7 = 3`,
    },
  ];
}

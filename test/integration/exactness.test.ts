import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ClickHouseTarget } from '../../activities';
import { startSync } from '../../client/commands/sync';
import { verifyTable } from '../../workflows/verify';
import { readTemporalConfig, secretsOf } from '../../core/config';
import { createActivityLogs } from '../../devstack/activity-logs';
import { createPgPool } from '../../worker/connections';
import { envFor, pgPool, startWorker, temporalClient, type RunningWorker, type Target } from '../support/harness';

// Values that break naive pipelines: int8 beyond 2^53 and at both extremes,
// every character COPY and TabSeparated escape, the literal text \N (not a
// NULL), multi-byte text, JSON with escapes and big numbers.
const EDGE_ROWS: Array<[string, string, string, string, string]> = [
  ['-9223372036854775808', '1970-01-01 00:00:00', '', '-9223372036854775808', '{}'],
  ['-1', '1999-12-31 23:59:59.999999', 'tab\there', '0', '[]'],
  ['0', '2000-02-29 12:00:00.000001', 'new\nline and cr\r', '1', '"just a string"'],
  ['1', '2024-03-10 02:30:00', 'back\\slash \\N \\t', '9007199254740993', 'null'],
  ['2', '2024-11-03 01:30:00.5', `quotes ' and " and \``, '9223372036854775807', '{"n": 12345678901234567890.123456789}'],
  ['9007199254740993', '2038-01-19 03:14:08', '\\N', '42', '{"esc": "q\\" b\\\\ n\\n t\\t u\\u00e9", "deep": {"a": [1, {"b": null}]}}'],
  ['9223372036854775806', '2105-12-31 23:59:59', 'NULL', '43', '{"emoji": "🎉👍🏽", "rtl": "مرحبا بالعالم"}'],
  ['9223372036854775807', '1970-01-01 00:00:01', 'emoji 🎉👍🏽 rtl مرحبا עברית', '44', '{"ctl": "\\u0001\\u001f"}'],
];

async function chRows<T>(ch: ClickHouseTarget, query: string): Promise<T[]> {
  return (await ch.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

type Row = { id: string; ts: string; ev: string; uid: string; props: string };

// Every copy path: push into the server, and into the embedded engine both
// the pull (auto picks it for these column types) and the forced push.
const PATHS: Array<{ name: string; target: Target; strategy: 'auto' | 'push'; expected: 'push' | 'pull' }> = [
  { name: 'server (push)', target: 'server', strategy: 'auto', expected: 'push' },
  { name: 'embedded (pull)', target: 'embedded', strategy: 'auto', expected: 'pull' },
  { name: 'embedded (push)', target: 'embedded', strategy: 'push', expected: 'push' },
];

describe.each(PATHS)('values arrive unchanged: $name', ({ target, strategy, expected }) => {
  const database = `it_exact_${target}_${strategy}`;
  let pool: pg.Pool;
  let worker: RunningWorker;
  let client: Client;
  let ch: ClickHouseTarget;
  let env: Record<string, string>;

  beforeAll(async () => {
    pool = pgPool();
    env = { ...envFor(target, database, `it-exact-${target}-${strategy}`), PG2CH_COPY_STRATEGY: strategy };
    worker = await startWorker(env);
    ch = worker.worker.clickhouse;
    client = await temporalClient();
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await pool?.end();
  });

  async function freshTable(name: string) {
    await pool.query(`DROP TABLE IF EXISTS ${name}`);
    await createActivityLogs(pool, name);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.${name}` });
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
  }

  /** The worker's activities, wired the same way, to call one directly. */
  const directActivities = () => {
    const cfg = worker.config;
    return createActivities({
      pg: createPgPool(cfg.postgres, 1),
      pgSource: cfg.postgres,
      copyStrategy: cfg.copyStrategy,
      clickhouse: ch,
      secrets: secretsOf(cfg),
    });
  };

  const sync = (table: string, chunkRows: number) =>
    startSync(client, readTemporalConfig(env), table, { once: true, chunkRows }, () => {});

  // Old servers keep whole seconds only (documented in the README's type table)
  // and print the epoch itself as 0000-00-00 00:00:00, so there we compare
  // seconds since the epoch.
  const pgTs = () =>
    ch.caps.dateTime64 ? `to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US')` : `extract(epoch FROM date_trunc('second', created_at))::bigint::text`;
  const chTs = () => (ch.caps.dateTime64 ? 'toString(created_at)' : 'toString(toUnixTimestamp(created_at))');

  async function compare(table: string, chTable = table): Promise<number> {
    const pgRows = await pool.query<Row>(
      `SELECT id::text AS id, ${pgTs()} AS ts, event_name AS ev, user_id::text AS uid, properties::text AS props
         FROM ${table} ORDER BY id`,
    );
    const chData = await chRows<Row>(
      ch,
      `SELECT toString(id) AS id, ${chTs()} AS ts, event_name AS ev, toString(user_id) AS uid, properties AS props
         FROM ${database}.${chTable} ORDER BY id`,
    );
    expect(chData.length).toBe(pgRows.rows.length);
    for (let i = 0; i < chData.length; i++) expect(chData[i]).toEqual(pgRows.rows[i]);
    return chData.length;
  }

  it('int8 extremes, escapes, unicode and JSON are byte-for-byte equal', async () => {
    await freshTable('edge_values');
    for (const r of EDGE_ROWS) {
      await pool.query('INSERT INTO edge_values VALUES ($1, $2, $3, $4, $5)', r);
    }
    const result = await sync('edge_values', 3);
    expect(result).toMatchObject({ rows: EDGE_ROWS.length, chunks: 3, lastId: '9223372036854775807' });
    expect(await compare('edge_values')).toBe(EDGE_ROWS.length);
    const [nul] = await chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${database}.edge_values WHERE event_name = '\\\\N'`);
    expect(nul!.n).toBe('1');
  });

  it('verify finds the synced values equal, then a changed value and a row only ClickHouse has', async () => {
    const verify = (args: { fromId?: string; toId?: string } = {}) =>
      client.workflow.execute(verifyTable, {
        workflowId: `verify-${database}-${Date.now()}`,
        taskQueue: readTemporalConfig(env).taskQueue,
        args: [{ table: 'edge_values', bucketRows: 3, ...args }],
      });
    expect(await verify()).toMatchObject({ equal: true, rows: EDGE_ROWS.length, afterId: null, upTo: '9223372036854775807', mismatches: [] });

    await pool.query(`UPDATE edge_values SET event_name = event_name || '!' WHERE id = 1`);
    await ch.client.command({ query: `INSERT INTO ${database}.edge_values SELECT 9223372036854775805, created_at, event_name, user_id, properties FROM ${database}.edge_values WHERE id = 2` });
    const found = await verify();
    expect(found.equal).toBe(false);
    const holding = (id: bigint) =>
      found.mismatches.filter((m) => (m.afterId === null || BigInt(m.afterId) < id) && id <= BigInt(m.toId));
    const changed = holding(1n);
    expect(changed).toHaveLength(1);
    expect(changed[0]!.postgres.rows).toBe(changed[0]!.clickhouse.rows);
    expect(changed[0]!.postgres.checksum).not.toBe(changed[0]!.clickhouse.checksum);
    const extra = holding(9223372036854775805n);
    expect(extra).toHaveLength(1);
    expect(extra[0]!.clickhouse.rows).toBe(extra[0]!.postgres.rows + 1);
    expect(found.mismatches).toHaveLength(2);
    // A range that holds neither is equal.
    expect(await verify({ fromId: '-1', toId: '0' })).toMatchObject({ equal: true, rows: 2 });
  });

  // A plain name takes the embedded engine's zero-copy Buffer insert; any
  // other name takes the stream path, where chunk boundaries cut through text.
  it.each(['wide_text', 'wide-text ü'])('multi-byte characters that straddle COPY chunk boundaries survive (%s)', async (name) => {
    const q = `"${name}"`;
    await pool.query(`DROP TABLE IF EXISTS ${q}`);
    await createActivityLogs(pool, name);
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.\`${name}\`` });
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${database}.sync_control` });
    await pool.query(
      `INSERT INTO ${q} SELECT g, '2024-01-01'::timestamp + g * interval '1 second',
              repeat('é🎉ж' || g::text, 50 + g % 7), g, jsonb_build_object('t', repeat('👍🏽', g % 13))
         FROM generate_series(1, 4000) g`,
    );
    await sync(q, 2500);
    expect(await compare(q, `\`${name}\``)).toBe(4000);
  });

  it('a value ClickHouse cannot hold stops the sync with a message naming it, and writes nothing', async () => {
    await freshTable('future_logs');
    await pool.query(`INSERT INTO future_logs VALUES (1, '2024-01-01', 'ok', 1, '{}'), (2, '2301-05-06 07:08:09', 'too late', 1, '{}')`);
    await expect(sync('future_logs', 10)).rejects.toThrow(/column "created_at" value 2301-05-06 07:08:09 is outside what ClickHouse/);
    const [n] = await chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${database}.future_logs`);
    expect(n!.n).toBe('0');
  });

  it('an insert repeated with the same range is not duplicated (dedup token, or the resume check)', async () => {
    await freshTable('replayed');
    await pool.query(`INSERT INTO replayed SELECT g, '2024-01-01'::timestamp + g * interval '1 minute', 'e', g, '{}' FROM generate_series(1, 1000) g`);
    const acts = directActivities();
    const menv = new MockActivityEnvironment();
    const { plan } = await menv.run(acts.prepareTable, { table: 'replayed' }) as Awaited<ReturnType<typeof acts.prepareTable>>;
    expect(plan.strategy).toBe(expected);
    const range = { afterId: null, toId: '1000', rows: 1000 };
    const first = await menv.run(acts.insertBatch, { plan, range, resume: false });
    expect(first).toMatchObject({ rows: 1000, skipped: false });
    // Servers with tokens drop the repeat by token; older ones need the resume check.
    const second = (await menv.run(acts.insertBatch, { plan, range, resume: !ch.caps.dedupToken })) as Awaited<ReturnType<typeof acts.insertBatch>>;
    expect(second.rows).toBe(1000);
    expect(second.skipped).toBe(!ch.caps.dedupToken);
    const [n] = await chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${database}.replayed`);
    expect(n!.n).toBe('1000');
  });

  it('a timestamptz column, which postgresql() would shift, is always pushed', async () => {
    await pool.query('DROP TABLE IF EXISTS with_tz');
    await pool.query('CREATE TABLE with_tz (id bigint PRIMARY KEY, at timestamptz)');
    const acts = directActivities();
    const { plan } = (await new MockActivityEnvironment().run(acts.prepareTable, { table: 'with_tz' })) as Awaited<
      ReturnType<typeof acts.prepareTable>
    >;
    expect(plan.strategy).toBe('push');
  });
});

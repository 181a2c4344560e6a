import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { addColumnSql, createDatabaseSql, createSyncControlSql, createSyncRecheckSql, createTableSql, SYNC_CONTROL, type Layout } from '../../core/ddl';
import type { ColumnPlan } from '../../core/types';
import { copyColumnNames, copySelectList, legacyLayout } from '../../core/copy-version';

const OLD = capabilitiesFor('18.16.1');
const NEW = capabilitiesFor('24.8.1');

function plan(name: string, chType: string): ColumnPlan {
  return { name, chType, pgType: "whatever", select: `"${name}"`, pullSafe: false };
}

const ID = plan('id', 'Int64');
const CREATED = plan('created_at', "DateTime64(6, 'UTC')");
const EVENT = plan('event_name', 'String');
const PROPS = plan('properties', 'Nullable(String)');

describe('SYNC_CONTROL', () => {
  it('is sync_control', () => {
    expect(SYNC_CONTROL).toBe('sync_control');
  });
});

describe('createDatabaseSql', () => {
  it('creates a local database', () => {
    expect(createDatabaseSql('analytics')).toBe('CREATE DATABASE IF NOT EXISTS `analytics`');
  });

  it('adds ON CLUSTER', () => {
    expect(createDatabaseSql('analytics', 'main')).toBe('CREATE DATABASE IF NOT EXISTS `analytics` ON CLUSTER `main`');
  });

  it('treats an empty cluster as none', () => {
    expect(createDatabaseSql('analytics', '')).toBe('CREATE DATABASE IF NOT EXISTS `analytics`');
  });

  it('escapes backticks in the name', () => {
    expect(createDatabaseSql('a`b')).toBe('CREATE DATABASE IF NOT EXISTS `a\\`b`');
  });
});

/** The seed's layout: monthly partitions, ordered by time then id. */
const SEED_LAYOUT: Layout = { engine: 'ReplacingMergeTree', orderBy: ['created_at', 'id'], partitionBy: 'toYYYYMM(`created_at`)' };

describe('createTableSql: local table', () => {
  it('on a new server: ReplacingMergeTree(), PARTITION BY, ORDER BY and the dedup window', () => {
    const columns = [ID, CREATED, EVENT, PROPS];
    expect(
      createTableSql({ database: 'analytics', table: 'activity_logs', columns, layout: SEED_LAYOUT, caps: NEW }),
    ).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`activity_logs`',
        '(',
        "    `id` Int64,",
        "    `created_at` DateTime64(6, 'UTC'),",
        '    `event_name` String,',
        '    `properties` Nullable(String)',
        ')',
        'ENGINE = ReplacingMergeTree()',
        'PARTITION BY toYYYYMM(`created_at`)',
        'ORDER BY (`created_at`, `id`)',
        'SETTINGS non_replicated_deduplication_window = 10000',
      ].join('\n'),
    );
  });

  it('on an old server: no SETTINGS line', () => {
    const columns = [ID, plan('created_at', "DateTime('UTC')")];
    expect(
      createTableSql({ database: 'analytics', table: 'activity_logs', columns, layout: SEED_LAYOUT, caps: OLD }),
    ).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`activity_logs`',
        '(',
        '    `id` Int64,',
        "    `created_at` DateTime('UTC')",
        ')',
        'ENGINE = ReplacingMergeTree()',
        'PARTITION BY toYYYYMM(`created_at`)',
        'ORDER BY (`created_at`, `id`)',
      ].join('\n'),
    );
  });

  it('has no PARTITION BY line without a partition key', () => {
    expect(createTableSql({ database: 'analytics', table: 'users', columns: [ID, EVENT], layout: { engine: 'ReplacingMergeTree', orderBy: ['id'] }, caps: NEW })).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`users`',
        '(',
        '    `id` Int64,',
        '    `event_name` String',
        ')',
        'ENGINE = ReplacingMergeTree()',
        'ORDER BY (`id`)',
        'SETTINGS non_replicated_deduplication_window = 10000',
      ].join('\n'),
    );
  });

  it('minimal table on an old server is four clauses', () => {
    expect(createTableSql({ database: 'db', table: 't', columns: [ID], layout: { engine: 'ReplacingMergeTree', orderBy: ['id'] }, caps: OLD })).toBe(
      'CREATE TABLE IF NOT EXISTS `db`.`t`\n(\n    `id` Int64\n)\nENGINE = ReplacingMergeTree()\nORDER BY (`id`)',
    );
  });

  it('quotes odd table and column names with backticks', () => {
    const sql = createTableSql({
      database: 'analytics',
      table: 'sales.order`s',
      columns: [plan('my id', 'Int64'), plan('a\\b', 'String')],
      layout: { engine: 'ReplacingMergeTree', orderBy: ['my id'] },
      caps: OLD,
    });
    expect(sql).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`sales.order\\`s`',
        '(',
        '    `my id` Int64,',
        '    `a\\\\b` String',
        ')',
        'ENGINE = ReplacingMergeTree()',
        'ORDER BY (`my id`)',
      ].join('\n'),
    );
  });

  it('uses a custom partition expression verbatim', () => {
    const sql = createTableSql({
      database: 'db',
      table: 't',
      columns: [ID],
      layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], partitionBy: 'intDiv(`id`, 1000000)' },
      caps: OLD,
    });
    expect(sql).toContain('\nPARTITION BY intDiv(`id`, 1000000)\nORDER BY (`id`)');
  });

  it('treats an empty cluster string as local', () => {
    const sql = createTableSql({ database: 'db', table: 't', columns: [ID], layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], cluster: '' }, caps: NEW });
    expect(sql).toBe(
      'CREATE TABLE IF NOT EXISTS `db`.`t`\n(\n    `id` Int64\n)\nENGINE = ReplacingMergeTree()\nORDER BY (`id`)\nSETTINGS non_replicated_deduplication_window = 10000',
    );
  });
});

describe('createTableSql: cluster', () => {
  it('adds ON CLUSTER and a ReplicatedReplacingMergeTree with an explicit path, no dedup window', () => {
    const columns = [ID, CREATED];
    expect(
      createTableSql({
        database: 'analytics',
        table: 'activity_logs',
        columns,
        layout: { ...SEED_LAYOUT, engine: 'ReplicatedReplacingMergeTree', cluster: 'main' },
        caps: NEW,
      }),
    ).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`activity_logs` ON CLUSTER `main`',
        '(',
        '    `id` Int64,',
        "    `created_at` DateTime64(6, 'UTC')",
        ')',
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/activity_logs', '{replica}')",
        'PARTITION BY toYYYYMM(`created_at`)',
        'ORDER BY (`created_at`, `id`)',
      ].join('\n'),
    );
  });

  it('is the same on an old server', () => {
    expect(
      createTableSql({ database: 'dw', table: 'users', columns: [ID], layout: { engine: 'ReplicatedReplacingMergeTree', orderBy: ['id'], cluster: 'c1' }, caps: OLD }),
    ).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `dw`.`users` ON CLUSTER `c1`',
        '(',
        '    `id` Int64',
        ')',
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dw/users', '{replica}')",
        'ORDER BY (`id`)',
      ].join('\n'),
    );
  });

  it('escapes a quote in the table name inside the replication path', () => {
    const sql = createTableSql({ database: 'dw', table: "o'brien", columns: [ID], layout: { engine: 'ReplicatedReplacingMergeTree', orderBy: ['id'], cluster: 'c1' }, caps: NEW });
    expect(sql).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dw/o\\'brien', '{replica}')");
    expect(sql).not.toContain('SETTINGS');
  });

  it('escapes a backtick in the cluster name', () => {
    const sql = createTableSql({ database: 'dw', table: 't', columns: [ID], layout: { engine: 'ReplicatedReplacingMergeTree', orderBy: ['id'], cluster: 'c`1' }, caps: NEW });
    expect(sql.split('\n')[0]).toBe('CREATE TABLE IF NOT EXISTS `dw`.`t` ON CLUSTER `c\\`1`');
  });
});

describe('createSyncControlSql', () => {
  const COLUMNS = [
    '(',
    '    table_name   String,',
    '    sync_date    Date,',
    '    last_max_id  Int64,',
    '    synced_at    DateTime,',
    '    after_id     Nullable(Int64),',
    '    rows_copied  UInt64,',
    '    workflow_id  String,',
    '    last_key     Nullable(String),',
    '    cursor_name  Nullable(String),',
    '    table_settings Nullable(String),',
    '    resume_from  Nullable(Int64)',
    ')',
  ];

  it('creates the local table on a new server with the dedup window', () => {
    expect(createSyncControlSql('analytics', NEW)).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`sync_control`',
        ...COLUMNS,
        'ENGINE = MergeTree()',
        'ORDER BY (table_name, sync_date, synced_at)',
        'SETTINGS non_replicated_deduplication_window = 10000',
      ].join('\n'),
    );
  });

  it('creates the local table on an old server without SETTINGS', () => {
    expect(createSyncControlSql('analytics', OLD)).toBe(
      ['CREATE TABLE IF NOT EXISTS `analytics`.`sync_control`', ...COLUMNS, 'ENGINE = MergeTree()', 'ORDER BY (table_name, sync_date, synced_at)'].join(
        '\n',
      ),
    );
  });

  it('creates a replicated table on a cluster', () => {
    expect(createSyncControlSql('analytics', NEW, 'main')).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `analytics`.`sync_control` ON CLUSTER `main`',
        ...COLUMNS,
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/sync_control', '{replica}')",
        'ORDER BY (table_name, sync_date, synced_at)',
      ].join('\n'),
    );
  });

  it("contains the seed's columns with their types", () => {
    const sql = createSyncControlSql('analytics', OLD);
    expect(sql).toMatch(/^\s+table_name\s+String,$/m);
    expect(sql).toMatch(/^\s+sync_date\s+Date,$/m);
    expect(sql).toMatch(/^\s+last_max_id\s+Int64,$/m);
    expect(sql).toMatch(/^\s+synced_at\s+DateTime,$/m);
  });

  it('quotes the database name', () => {
    expect(createSyncControlSql('d`b', OLD).split('\n')[0]).toBe('CREATE TABLE IF NOT EXISTS `d\\`b`.`sync_control`');
  });
});

describe('createSyncRecheckSql', () => {
  it('is an append-only MergeTree keyed by table and chunk', () => {
    const sql = createSyncRecheckSql('analytics');
    expect(sql.split('\n')[0]).toBe('CREATE TABLE IF NOT EXISTS `analytics`.`sync_recheck`');
    expect(sql).toMatch(/snapshot_xmin\s+UInt64/);
    expect(sql).toMatch(/ENGINE = MergeTree\(\)\nORDER BY \(table_name, to_id, snapshot_xmin\)$/);
  });
  it('is replicated ON CLUSTER with a cluster', () => {
    const sql = createSyncRecheckSql('analytics', 'main');
    expect(sql.split('\n')[0]).toBe('CREATE TABLE IF NOT EXISTS `analytics`.`sync_recheck` ON CLUSTER `main`');
    expect(sql).toContain("ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/sync_recheck', '{replica}')");
  });
});

describe('createTableSql: engines', () => {
  it('passes the version and is_deleted columns to ReplacingMergeTree', () => {
    const sql = createTableSql({ database: 'db', table: 't', columns: [ID], layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], version: 'updated_at', isDeleted: 'deleted' }, caps: NEW });
    expect(sql).toContain('ENGINE = ReplacingMergeTree(`updated_at`, `deleted`)\nORDER BY (`id`)');
  });

  it('puts the version after the replication path of a replicated engine', () => {
    const sql = createTableSql({ database: 'db', table: 't', columns: [ID], layout: { engine: 'ReplicatedReplacingMergeTree', orderBy: ['id'], version: 'v' }, caps: NEW });
    expect(sql).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}', `v`)");
    expect(sql).not.toContain('ON CLUSTER');
  });

  it('creates a plain MergeTree when asked', () => {
    const sql = createTableSql({ database: 'db', table: 't', columns: [ID], layout: { engine: 'MergeTree', orderBy: ['id'] }, caps: OLD });
    expect(sql).toContain('ENGINE = MergeTree()\nORDER BY (`id`)');
  });
});

describe('addColumnSql', () => {
  it('adds a column, with the default older rows hold', () => {
    expect(addColumnSql('db', 't', { name: 'note', chType: 'Nullable(String)' })).toBe('ALTER TABLE `db`.`t` ADD COLUMN `note` Nullable(String)');
    expect(addColumnSql('db', 't', { name: 'n', chType: 'Int32' }, 'main', "CAST('5' AS Int32)")).toBe(
      "ALTER TABLE `db`.`t` ON CLUSTER `main` ADD COLUMN `n` Int32 DEFAULT CAST('5' AS Int32)",
    );
  });
});

describe('createTableSql: updated mode version column', () => {
  const UPDATED_AT = plan('updated_at', "DateTime64(6, 'UTC')");
  const DELETED = plan('is_deleted', 'UInt8');

  it('adds _version UInt64 last and orders versions by it, ORDER BY unchanged', () => {
    expect(
      createTableSql({ database: 'db', table: 'orders', columns: [ID, UPDATED_AT], layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version' }, caps: NEW }),
    ).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `db`.`orders`',
        '(',
        '    `id` Int64,',
        "    `updated_at` DateTime64(6, 'UTC'),",
        '    `_version` UInt64',
        ')',
        'ENGINE = ReplacingMergeTree(`_version`)',
        'ORDER BY (`id`)',
        'SETTINGS non_replicated_deduplication_window = 10000',
      ].join('\n'),
    );
  });

  it('keeps is_deleted as the second parameter', () => {
    const sql = createTableSql({
      database: 'db', table: 'orders', columns: [ID, UPDATED_AT, DELETED],
      layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version', isDeleted: 'is_deleted' }, caps: NEW,
    });
    expect(sql).toContain('    `is_deleted` UInt8,\n    `_version` UInt64\n)');
    expect(sql).toContain('ENGINE = ReplacingMergeTree(`_version`, `is_deleted`)');
  });

  it('gives a replicated engine on a cluster the same version column after its path and replica', () => {
    const sql = createTableSql({
      database: 'dw', table: 'orders', columns: [ID, UPDATED_AT],
      layout: { engine: 'ReplicatedReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version', cluster: 'c1' }, caps: OLD,
    });
    expect(sql).toContain('    `_version` UInt64\n)');
    expect(sql).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dw/orders', '{replica}', `_version`)");
  });

  it('a destination made before the version column: ReplacingMergeTree(updated_at), no _version', () => {
    const sql = createTableSql({ database: 'db', table: 'orders', columns: [ID, UPDATED_AT], layout: { engine: 'ReplacingMergeTree', orderBy: ['id'], version: 'updated_at' }, caps: OLD });
    expect(sql).not.toContain('_version');
    expect(sql).toContain('ENGINE = ReplacingMergeTree(`updated_at`)');
  });
});

describe('copy columns and the version', () => {
  const layout: Layout = { engine: 'ReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version' };

  it('every push copy selects the snapshot xmax, once per statement, as its last column', () => {
    expect(copyColumnNames({ columns: [ID, EVENT], layout })).toStrictEqual(['id', 'event_name', '_version']);
    expect(copySelectList({ columns: [ID, EVENT], layout })).toStrictEqual(['"id"', '"event_name"', '(SELECT txid_snapshot_xmax(txid_current_snapshot()))']);
  });

  it('append mode and old destinations copy their columns only', () => {
    const old = legacyLayout({ layout, cursor: 'updated_at' });
    expect(old).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'], version: 'updated_at' });
    expect(copyColumnNames({ columns: [ID], layout: old })).toStrictEqual(['id']);
    expect(copySelectList({ columns: [ID], layout: { engine: 'MergeTree', orderBy: ['id'] } })).toStrictEqual(['"id"']);
  });
});

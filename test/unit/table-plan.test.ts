import { describe, expect, it } from 'vitest';
import { renderChangeValue } from '../../core/change-values';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { UserError } from '../../core/errors';
import { buildPlan, chooseCursor, planWarnings, type PlanTarget, type SourceSchema } from '../../core/table-plan';
import type { TableSettings } from '../../core/table-settings';
import type { PgColumn } from '../../core/type-map';

const NEW = capabilitiesFor('24.8.1');
const OLD = capabilitiesFor('18.16.1');
const EMBEDDED = capabilitiesFor('26.7.2.1');

const TARGET: PlanTarget = { caps: NEW, database: 'analytics' };
const PUBLIC = (name: string) => ({ schema: 'public', name });

function col(name: string, typname: string, type: string = typname, notNull = true): PgColumn {
  return { name, type, typname, typtype: 'b', notNull };
}

const ID = col('id', 'int8', 'bigint');
const CREATED = col('created_at', 'timestamptz', 'timestamp with time zone');
const EVENT = col('event_name', 'text', 'text', false);
const USER = col('user_id', 'int8', 'bigint', false);
const PROPS = col('properties', 'jsonb', 'jsonb', false);
const UPDATED = col('updated_at', 'timestamptz', 'timestamp with time zone');

/** The seed's table. */
const ACTIVITY_LOGS: SourceSchema = { columns: [ID, CREATED, EVENT, USER, PROPS], primaryKey: ['id'] };
/** A table whose rows change, stamped by updated_at. */
const ORDERS: SourceSchema = {
  columns: [ID, col('status', 'text'), col('amount', 'numeric', 'numeric(12,2)'), UPDATED],
  primaryKey: ['id'],
};

const plan = (schema: SourceSchema, settings: TableSettings = {}, target: PlanTarget = TARGET, name = 't') => buildPlan(PUBLIC(name), schema, settings, target);
const layoutOf = (schema: SourceSchema, settings: TableSettings = {}, target: PlanTarget = TARGET) => plan(schema, settings, target).layout;

/** The BadConfig UserError buildPlan throws, for its message. */
function planError(schema: SourceSchema, settings: TableSettings = {}, target: PlanTarget = TARGET): UserError {
  try {
    plan(schema, settings, target);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('buildPlan did not throw');
}

describe('buildPlan: default append plan (the seed)', () => {
  it('activity_logs: ReplacingMergeTree ordered by (created_at, id), monthly partitions', () => {
    const p = buildPlan(PUBLIC('activity_logs'), ACTIVITY_LOGS, {}, TARGET);
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['created_at', 'id'], partitionBy: 'toYYYYMM(`created_at`)' });
    expect(p.key).toBe('activity_logs');
    expect(p.source).toStrictEqual({ schema: 'public', name: 'activity_logs' });
    expect(p.destination).toStrictEqual({ database: 'analytics', table: 'activity_logs' });
    expect(p.cursor).toBe('id');
    expect(p.mode).toBe('append');
    expect(p.keyset).toBeUndefined();
    expect(p.excluded).toStrictEqual([]);
    expect(p.softDelete).toBeUndefined();
    expect(p.lookbackSeconds).toBe(0);
    expect(p.outOfRange).toBe('fail');
    expect(p.dedupToken).toBe(true);
    expect(p.clickhouseVersion).toBe('24.8.1');
  });

  it('maps every column, keys never Nullable', () => {
    const p = plan(ACTIVITY_LOGS);
    expect(p.columns.map((c) => [c.name, c.chType])).toStrictEqual([
      ['id', 'Int64'],
      ['created_at', "DateTime64(6, 'UTC')"],
      ['event_name', 'Nullable(String)'],
      ['user_id', 'Nullable(Int64)'],
      ['properties', 'Nullable(String)'],
    ]);
  });

  it('has no dedup token on a server without it', () => {
    expect(plan(ACTIVITY_LOGS, {}, { caps: OLD, database: 'analytics' }).dedupToken).toBe(false);
  });

  it('does the same for an old-server DateTime created_at', () => {
    const p = plan(ACTIVITY_LOGS, {}, { caps: OLD, database: 'analytics' });
    expect(p.columns.find((c) => c.name === 'created_at')!.chType).toBe("DateTime('UTC')");
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['created_at', 'id'], partitionBy: 'toYYYYMM(`created_at`)' });
  });

  it('does not depend on column order', () => {
    expect(layoutOf({ columns: [PROPS, EVENT, CREATED, ID], primaryKey: ['id'] }).orderBy).toStrictEqual(['created_at', 'id']);
  });

  it('puts the cursor last whatever its name', () => {
    expect(layoutOf({ columns: [col('event_id', 'int8', 'bigint'), CREATED], primaryKey: ['event_id'] })).toStrictEqual({
      engine: 'ReplacingMergeTree',
      orderBy: ['created_at', 'event_id'],
      partitionBy: 'toYYYYMM(`created_at`)',
    });
  });

  it('a date created_at partitions too', () => {
    expect(layoutOf({ columns: [ID, col('created_at', 'date')], primaryKey: ['id'] })).toStrictEqual({
      engine: 'ReplacingMergeTree',
      orderBy: ['created_at', 'id'],
      partitionBy: 'toYYYYMM(`created_at`)',
    });
  });

  it('orders by (id) only when created_at is nullable', () => {
    expect(layoutOf({ columns: [ID, { ...CREATED, notNull: false }], primaryKey: ['id'] })).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'] });
  });

  it('orders by (id) only when created_at is not a date or time', () => {
    expect(layoutOf({ columns: [ID, col('created_at', 'text')], primaryKey: ['id'] }).orderBy).toStrictEqual(['id']);
    expect(layoutOf({ columns: [ID, col('created_at', 'int8', 'bigint')], primaryKey: ['id'] }).orderBy).toStrictEqual(['id']);
  });

  it('orders by (id) only when there is no created_at', () => {
    expect(layoutOf({ columns: [ID, EVENT, UPDATED], primaryKey: ['id'] })).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'] });
  });

  it('matches created_at case-sensitively', () => {
    expect(layoutOf({ columns: [ID, col('Created_At', 'timestamptz')], primaryKey: ['id'] }).orderBy).toStrictEqual(['id']);
  });

  it('orders by (id) only when created_at is excluded', () => {
    const p = plan(ACTIVITY_LOGS, { exclude: ['created_at'] });
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'] });
    expect(p.columns.map((c) => c.name)).toStrictEqual(['id', 'event_name', 'user_id', 'properties']);
  });

  it('returns no partitionBy key at all without created_at', () => {
    expect('partitionBy' in layoutOf({ columns: [ID], primaryKey: ['id'] })).toBe(false);
  });

  it('uses a cursor name that needs quoting as given', () => {
    expect(layoutOf({ columns: [col('we`ird', 'int8', 'bigint')], primaryKey: ['we`ird'] })).toStrictEqual({
      engine: 'ReplacingMergeTree',
      orderBy: ['we`ird'],
    });
  });

  it('quotes the partition column for ClickHouse', () => {
    expect(layoutOf({ columns: [ID, col('we`ird', 'date')], primaryKey: ['id'] }, { orderBy: ['we`ird', 'id'] }).partitionBy).toBe('toYYYYMM(`we\\`ird`)');
  });

  it('a nullable integer id chosen by default is a key, not Nullable', () => {
    const p = plan({ columns: [col('id', 'int8', 'bigint', false), EVENT], primaryKey: [] }, { engine: 'MergeTree' });
    expect(p.cursor).toBe('id');
    expect(p.columns[0]!.chType).toBe('Int64');
  });

  it('takes partitionBy, orderBy and engine from the settings', () => {
    expect(plan({ ...ACTIVITY_LOGS, columns: [ID, CREATED, col('user_id', 'int8', 'bigint')] }, { engine: 'MergeTree', orderBy: ['user_id', 'id'], partitionBy: 'intDiv(id, 1000000)' }).layout).toStrictEqual({
      engine: 'MergeTree',
      orderBy: ['user_id', 'id'],
      partitionBy: 'intDiv(id, 1000000)',
    });
  });

  it('copies lookbackSeconds and outOfRange', () => {
    const p = plan(ACTIVITY_LOGS, { outOfRange: 'clamp' });
    expect(p.outOfRange).toBe('clamp');
    // The key column created_at keeps its guard but clamps.
    expect(p.columns.find((c) => c.name === 'created_at')!.select).toContain("THEN ((CASE WHEN \"created_at\"::timestamptz < '1900-01-01'");
  });
});

describe('buildPlan: timestamp cursor in append mode', () => {
  const EVENTS: SourceSchema = {
    columns: [col('event_id', 'uuid'), col('ts', 'timestamp', 'timestamp without time zone'), EVENT],
    primaryKey: ['event_id'],
  };

  it('orders by (time, tiebreak) with a keyset and no dedup token', () => {
    const p = plan(EVENTS, { cursor: 'ts' });
    expect(p.cursor).toBe('ts');
    expect(p.keyset).toStrictEqual({ time: 'ts', timeType: 'timestamp', tiebreak: 'event_id', tiebreakType: 'uuid' });
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['ts', 'event_id'], partitionBy: 'toYYYYMM(`ts`)' });
    // Keyset ranges can hold different rows over time, so a token could drop real rows.
    expect(p.dedupToken).toBe(false);
  });

  it('created_at as the cursor: (created_at, id)', () => {
    const p = plan(ACTIVITY_LOGS, { cursor: 'created_at' });
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['created_at', 'id'], partitionBy: 'toYYYYMM(`created_at`)' });
    expect(p.keyset).toStrictEqual({ time: 'created_at', timeType: 'timestamptz', tiebreak: 'id', tiebreakType: 'bigint' });
  });

  it('takes the tiebreak from the settings', () => {
    const p = plan({ columns: [...EVENTS.columns, col('seq', 'int8', 'bigint')], primaryKey: [], uniqueKeys: [['seq']] }, { cursor: 'ts', tiebreak: 'seq' });
    expect(p.keyset!.tiebreak).toBe('seq');
    expect(p.layout.orderBy).toStrictEqual(['ts', 'seq']);
  });

  it('takes a unique index without a primary key', () => {
    expect(plan({ columns: [ID, CREATED], primaryKey: [], uniqueKeys: [['id']] }, { cursor: 'created_at' }).keyset!.tiebreak).toBe('id');
  });

  it('needs a tiebreak', () => {
    expect(planError({ columns: [CREATED, EVENT], primaryKey: [] }, { cursor: 'created_at' }).message).toBe(
      'table t: a timestamp cursor needs a unique column to order rows that share a time; the table has no primary key or unique index to take it from, so add one in PostgreSQL and name its column in tiebreak',
    );
  });

  it('rejects a tiebreak that does not exist', () => {
    expect(planError(EVENTS, { cursor: 'ts', tiebreak: 'nope' }).message).toBe('table t: tiebreak column "nope" does not exist');
  });

  it('rejects a nullable tiebreak', () => {
    expect(planError(EVENTS, { cursor: 'ts', tiebreak: 'event_name' }).message).toBe(
      'table t: tiebreak column "event_name" is nullable; choose a NOT NULL unique column',
    );
  });

  it('rejects a nullable timestamp cursor', () => {
    expect(planError({ columns: [ID, { ...CREATED, notNull: false }], primaryKey: ['id'] }, { cursor: 'created_at' }).message).toBe(
      'table t: cursor column "created_at" is nullable, and rows with NULL there would never be copied; make it NOT NULL or choose another cursor',
    );
  });

  it('rejects a nullable integer cursor named in the settings', () => {
    expect(planError({ columns: [ID, USER], primaryKey: ['id'] }, { cursor: 'user_id' }).message).toMatch(/^table t: cursor column "user_id" is nullable/);
  });

  it('rejects a cursor that is neither integer nor time', () => {
    expect(planError(ACTIVITY_LOGS, { cursor: 'event_name' }).message).toBe(
      'table t: cursor column "event_name" is text; expected an integer or a timestamp/date column',
    );
  });

  it('rejects a cursor that does not exist', () => {
    expect(planError(ACTIVITY_LOGS, { cursor: 'nope' }).message).toBe('table t: cursor column "nope" does not exist');
  });

  it('errors are BadConfig', () => {
    expect(planError(ACTIVITY_LOGS, { cursor: 'nope' }).type).toBe('BadConfig');
  });
});

describe('buildPlan: updated mode', () => {
  it('cursor updated_at, tiebreak the primary key, version the copy\'s _version, ordered by id, no partition', () => {
    const p = plan(ORDERS, { mode: 'updated' });
    expect(p.mode).toBe('updated');
    expect(p.cursor).toBe('updated_at');
    expect(p.keyset).toStrictEqual({ time: 'updated_at', timeType: 'timestamptz', tiebreak: 'id', tiebreakType: 'bigint' });
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version' });
    expect(p.dedupToken).toBe(false);
    expect(p.columns.find((c) => c.name === 'updated_at')!.chType).toBe("DateTime64(6, 'UTC')");
  });

  it('keeps lookbackSeconds', () => {
    expect(plan(ORDERS, { mode: 'updated', lookbackSeconds: 300 }).lookbackSeconds).toBe(300);
  });

  it('does not partition even with a NOT NULL created_at', () => {
    expect(layoutOf({ ...ORDERS, columns: [...ORDERS.columns, CREATED] }, { mode: 'updated' })).toStrictEqual({
      engine: 'ReplacingMergeTree',
      orderBy: ['id'],
      version: '_version',
      versionColumn: '_version',
    });
  });

  it('accepts another cursor name and a user orderBy holding the identity', () => {
    const schema: SourceSchema = { columns: [ID, col('tenant', 'int4', 'integer'), col('changed', 'timestamp', 'timestamp without time zone')], primaryKey: ['id'] };
    expect(layoutOf(schema, { mode: 'updated', cursor: 'changed', orderBy: ['tenant', 'id'] })).toStrictEqual({
      engine: 'ReplacingMergeTree',
      orderBy: ['tenant', 'id'],
      version: '_version',
      versionColumn: '_version',
    });
  });

  it('names the version column _pg2ch_version beside a PostgreSQL _version, which is then copied as it is', () => {
    const p = plan({ ...ORDERS, columns: [...ORDERS.columns, col('_version', 'int4', 'integer')] }, { mode: 'updated' });
    expect(p.layout).toMatchObject({ version: '_pg2ch_version', versionColumn: '_pg2ch_version' });
    expect(p.columns.map((c) => c.name)).toContain('_version');
    expect(p.columns.map((c) => c.name)).not.toContain('_pg2ch_version');
  });

  it('a config cannot name the version column in exclude or types; append mode has none', () => {
    expect(planError(ORDERS, { mode: 'updated', exclude: ['_version'] }).message).toBe(
      'table t: exclude names "_version", the version column pg2ch writes in updated mode (not a PostgreSQL column); remove it from exclude',
    );
    expect(planError(ORDERS, { mode: 'updated', types: { _version: 'UInt64' } }).message).toBe('table t: types names column "_version", which the table does not have');
    expect(planError({ ...ORDERS, columns: [...ORDERS.columns, col('_pg2ch_version', 'int4', 'integer')] }, { mode: 'updated' }).message).toMatch(
      /^table t: mode updated adds a ClickHouse column "_pg2ch_version", and the PostgreSQL table has one/,
    );
    expect(plan(ORDERS, {}).layout.versionColumn).toBeUndefined();
  });

  it('needs updated_at (or a cursor setting)', () => {
    expect(planError(ACTIVITY_LOGS, { mode: 'updated' }).message).toBe(
      'table t: mode updated needs the column rows are stamped with on change; the table has no updated_at, so set cursor in the config file',
    );
  });

  it('needs a Replacing engine', () => {
    expect(planError(ORDERS, { mode: 'updated', engine: 'MergeTree' }).message).toBe(
      'table t: mode updated needs engine ReplacingMergeTree (or ReplicatedReplacingMergeTree) so an updated row replaces its old version; got MergeTree',
    );
    expect(planError(ORDERS, { mode: 'updated', engine: 'ReplicatedMergeTree' }).message).toMatch(/got ReplicatedMergeTree$/);
  });

  it('needs orderBy to hold the tiebreak', () => {
    expect(planError(ORDERS, { mode: 'updated', orderBy: ['status'] }).message).toBe(
      'table t: orderBy must include "id" of the row\'s key, the primary key ("id"): ReplacingMergeTree keeps one row per ORDER BY key, so rows would be lost',
    );
  });

  it('rejects orderBy holding the version column', () => {
    expect(planError(ORDERS, { mode: 'updated', orderBy: ['id', 'updated_at'] }).message).toBe(
      'table t: orderBy must not include the updated mode cursor "updated_at": each version would stay a row of its own',
    );
  });

  it('rejects a nullable updated_at', () => {
    expect(planError({ columns: [ID, { ...UPDATED, notNull: false }], primaryKey: ['id'] }, { mode: 'updated' }).message).toBe(
      'table t: cursor column "updated_at" is nullable, and rows with NULL there would never be copied; make it NOT NULL or choose another cursor',
    );
  });

  it('rejects an integer cursor', () => {
    expect(planError(ORDERS, { mode: 'updated', cursor: 'id' }).message).toBe(
      'table t: mode updated needs a timestamp cursor such as updated_at, and "id" is bigint',
    );
  });
});

describe('buildPlan: orderBy checks', () => {
  it('append mode with a Replacing engine needs the row key in orderBy', () => {
    expect(planError(ACTIVITY_LOGS, { orderBy: ['created_at'] }).message).toBe(
      'table t: orderBy must include "id" of the row\'s key, the primary key ("id"): ReplacingMergeTree keeps one row per ORDER BY key, so rows would be lost',
    );
  });

  it('a timestamp cursor needs the row key in orderBy, not the time', () => {
    expect(layoutOf(ACTIVITY_LOGS, { cursor: 'created_at', orderBy: ['id'] }).orderBy).toStrictEqual(['id']);
    expect(planError(ACTIVITY_LOGS, { cursor: 'created_at', orderBy: ['created_at'] }).message).toMatch(/^table t: orderBy must include "id" of the row's key/);
  });

  it('plain MergeTree keeps every row, so any orderBy will do', () => {
    expect(layoutOf(ACTIVITY_LOGS, { engine: 'MergeTree', orderBy: ['created_at'] })).toStrictEqual({
      engine: 'MergeTree',
      orderBy: ['created_at'],
      partitionBy: 'toYYYYMM(`created_at`)',
    });
  });

  it('rejects a nullable orderBy column', () => {
    expect(planError(ACTIVITY_LOGS, { orderBy: ['user_id', 'id'] }).message).toBe(
      'table t: orderBy column "user_id" is nullable in PostgreSQL, and ClickHouse cannot sort by a Nullable column; choose NOT NULL columns',
    );
  });

  it('rejects an orderBy column that is not copied', () => {
    expect(planError(ACTIVITY_LOGS, { orderBy: ['nope', 'id'] }).message).toBe(
      'table t: orderBy names column "nope", which is not copied (missing or excluded)',
    );
    const schema: SourceSchema = { columns: [ID, col('kind', 'text')], primaryKey: ['id'] };
    expect(planError(schema, { orderBy: ['kind', 'id'], exclude: ['kind'] }).message).toMatch(/orderBy names column "kind", which is not copied/);
  });

  it('orderBy columns are keys: a NOT NULL text column stays String', () => {
    const schema: SourceSchema = { columns: [ID, col('kind', 'text')], primaryKey: ['id'] };
    expect(plan(schema, { orderBy: ['kind', 'id'] }).columns.find((c) => c.name === 'kind')!.chType).toBe('String');
  });
});

describe('buildPlan: exclude and types', () => {
  it('leaves excluded columns out and lists them', () => {
    const p = plan(ACTIVITY_LOGS, { exclude: ['properties', 'user_id'] });
    expect(p.columns.map((c) => c.name)).toStrictEqual(['id', 'created_at', 'event_name']);
    expect(p.excluded).toStrictEqual(['properties', 'user_id']);
  });

  it('a column of a type without a mapping is copied as its text, or excluded', () => {
    const schema: SourceSchema = { columns: [ID, col('doc', 'tsvector')], primaryKey: ['id'] };
    expect(plan(schema).columns.find((c) => c.name === 'doc')).toMatchObject({ chType: 'String', select: '"doc"::text', textByDefault: true });
    expect(plan(schema, { exclude: ['doc'] }).columns.map((c) => c.name)).toStrictEqual(['id']);
  });

  it('excluding the cursor is an error', () => {
    expect(planError(ACTIVITY_LOGS, { exclude: ['id'] }).message).toBe('table t: exclude names "id", which is the cursor; it cannot be left out');
  });

  it('excluding the tiebreak of a timestamp cursor is an error', () => {
    expect(planError(ORDERS, { mode: 'updated', exclude: ['id'] }).message).toMatch(/^table t: exclude names "id", /);
  });

  it('types replace the mapping of a column', () => {
    const p = plan(ACTIVITY_LOGS, { types: { user_id: 'UInt64', id: 'UInt64' } });
    expect(p.columns.find((c) => c.name === 'user_id')!.chType).toBe('Nullable(UInt64)');
    expect(p.columns.find((c) => c.name === 'user_id')!.pullSafe).toBe(false);
    // A key column is never Nullable, overridden or not.
    expect(p.columns.find((c) => c.name === 'id')!.chType).toBe('UInt64');
  });

  it('types naming a column the table lacks is an error', () => {
    expect(planError(ACTIVITY_LOGS, { types: { nope: 'String' } }).message).toBe('table t: types names column "nope", which the table does not have');
  });

  it('passes numeric and json settings to the mapping', () => {
    const schema: SourceSchema = { columns: [ID, col('n', 'numeric'), col('j', 'jsonb')], primaryKey: ['id'] };
    const dflt = plan(schema, {}, { caps: EMBEDDED, database: 'analytics' });
    expect(dflt.columns.map((c) => c.chType)).toStrictEqual(['Int64', 'Decimal(76, 38)', 'String']);
    const set = plan(schema, { numeric: 'string', json: 'json' }, { caps: EMBEDDED, database: 'analytics' });
    expect(set.columns.map((c) => c.chType)).toStrictEqual(['Int64', 'String', 'JSON']);
    expect(() => plan(schema, { json: 'json' })).toThrowError(/needs the ClickHouse JSON type \(25\.3 or newer\), and this server is 24\.8\.1/);
  });
});

describe('buildPlan: softDelete', () => {
  const WITH_FLAG: SourceSchema = { columns: [...ORDERS.columns, col('deleted', 'bool', 'boolean', false)], primaryKey: ['id'] };
  const WITH_DELETED_AT: SourceSchema = { columns: [...ORDERS.columns, { ...col('deleted_at', 'timestamptz', 'timestamp with time zone'), notNull: false }], primaryKey: ['id'] };

  it('a bool column becomes the UInt8 is_deleted of ReplacingMergeTree (23.2+)', () => {
    const p = plan(WITH_FLAG, { mode: 'updated', softDelete: 'deleted' });
    expect(p.columns.find((c) => c.name === 'deleted')).toStrictEqual({
      name: 'deleted',
      pgType: 'boolean',
      chType: 'UInt8',
      select: 'coalesce("deleted", false)::int',
      pullSafe: false,
      render: { value: { kind: 'bool', digit: true }, nullAs: '0' },
    });
    // The CDC path renders it as the select does: NULL is not deleted.
    const flag = p.columns.find((c) => c.name === 'deleted')!;
    expect(['t', 'f', null].map((v) => renderChangeValue(flag, v))).toEqual(['1', '0', '0']);
    expect(p.softDelete).toBe('deleted');
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version', isDeleted: 'deleted' });
  });

  it('the layout has no is_deleted on a server without it', () => {
    const p = plan(WITH_FLAG, { mode: 'updated', softDelete: 'deleted' }, { caps: OLD, database: 'analytics' });
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['id'], version: '_version', versionColumn: '_version' });
    expect(p.softDelete).toBe('deleted');
    expect(capabilitiesFor('23.1.1').isDeleted).toBe(false);
    expect('isDeleted' in plan(WITH_FLAG, { mode: 'updated', softDelete: 'deleted' }, { caps: capabilitiesFor('23.1.1'), database: 'a' }).layout).toBe(false);
    expect(plan(WITH_FLAG, { mode: 'updated', softDelete: 'deleted' }, { caps: capabilitiesFor('23.2.1'), database: 'a' }).layout.isDeleted).toBe('deleted');
  });

  it('a timestamp column is kept and an is_deleted flag is added from it', () => {
    const p = plan(WITH_DELETED_AT, { mode: 'updated', softDelete: 'deleted_at' });
    expect(p.columns.find((c) => c.name === 'deleted_at')!.chType).toBe("Nullable(DateTime64(6, 'UTC'))");
    expect(p.columns.at(-1)).toStrictEqual({
      name: 'is_deleted',
      pgType: '(deleted_at IS NOT NULL)',
      chType: 'UInt8',
      select: '("deleted_at" IS NOT NULL)::int',
      pullSafe: false,
    });
    expect(p.softDelete).toBe('is_deleted');
    expect(p.layout.isDeleted).toBe('is_deleted');
  });

  it('the added flag avoids a column the table already has', () => {
    const schema: SourceSchema = { ...WITH_DELETED_AT, columns: [...WITH_DELETED_AT.columns, col('is_deleted', 'int4', 'integer')] };
    const p = plan(schema, { mode: 'updated', softDelete: 'deleted_at' });
    expect(p.softDelete).toBe('_pg2ch_is_deleted');
    expect(p.columns.filter((c) => c.name === 'is_deleted')).toHaveLength(1);
  });

  it('needs updated mode', () => {
    expect(planError(WITH_FLAG, { softDelete: 'deleted' }).message).toBe('table t: softDelete needs mode updated (rows marked deleted are updates)');
  });

  it('rejects a column that does not exist', () => {
    expect(planError(ORDERS, { mode: 'updated', softDelete: 'gone' }).message).toBe('table t: softDelete column "gone" does not exist');
  });
});

describe('buildPlan: destination and cluster', () => {
  it('a table outside public gets schema_table, and its key schema.table', () => {
    const p = buildPlan({ schema: 'sales', name: 'orders' }, ORDERS, {}, TARGET);
    expect(p.key).toBe('sales.orders');
    expect(p.destination).toStrictEqual({ database: 'analytics', table: 'sales_orders' });
  });

  it('takes the destination from the settings', () => {
    expect(buildPlan({ schema: 'sales', name: 'orders' }, ORDERS, { destination: 'orders_v2' }, TARGET).destination).toStrictEqual({
      database: 'analytics',
      table: 'orders_v2',
    });
  });

  it('a cluster from the target makes the engine Replicated and the DDL ON CLUSTER', () => {
    expect(layoutOf(ACTIVITY_LOGS, {}, { caps: NEW, database: 'analytics', cluster: 'main' })).toStrictEqual({
      engine: 'ReplicatedReplacingMergeTree',
      orderBy: ['created_at', 'id'],
      partitionBy: 'toYYYYMM(`created_at`)',
      cluster: 'main',
    });
  });

  it('the table setting wins over the target cluster', () => {
    expect(layoutOf(ACTIVITY_LOGS, { cluster: 'other' }, { caps: NEW, database: 'analytics', cluster: 'main' }).cluster).toBe('other');
  });

  it('a Replicated engine is kept as named, MergeTree becomes ReplicatedMergeTree', () => {
    expect(layoutOf(ACTIVITY_LOGS, { engine: 'ReplicatedReplacingMergeTree', cluster: 'c' }).engine).toBe('ReplicatedReplacingMergeTree');
    expect(layoutOf(ACTIVITY_LOGS, { engine: 'MergeTree', cluster: 'c' }).engine).toBe('ReplicatedMergeTree');
  });

  it('an empty target cluster is none', () => {
    expect(layoutOf(ACTIVITY_LOGS, {}, { caps: NEW, database: 'analytics', cluster: '' })).toStrictEqual({
      engine: 'ReplacingMergeTree',
      orderBy: ['created_at', 'id'],
      partitionBy: 'toYYYYMM(`created_at`)',
    });
  });
});

describe('chooseCursor', () => {
  it('takes a single-column integer primary key', () => {
    expect(chooseCursor({ columns: [col('event_id', 'int4', 'integer'), ID], primaryKey: ['event_id'] }, 't')).toBe('event_id');
  });

  it('falls back to an integer id when the primary key is not an integer', () => {
    expect(chooseCursor({ columns: [col('code', 'text'), ID], primaryKey: ['code'] }, 't')).toBe('id');
  });

  it('falls back to an integer id when the primary key has several columns', () => {
    expect(chooseCursor({ columns: [col('a', 'int4'), col('b', 'int4'), ID], primaryKey: ['a', 'b'] }, 't')).toBe('id');
  });

  it('fails with MissingCursor without either, naming the table and the setting', () => {
    let caught: unknown;
    try {
      chooseCursor({ columns: [col('id', 'uuid'), EVENT], primaryKey: ['id'] }, 'sales.orders');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).type).toBe('MissingCursor');
    expect((caught as UserError).message).toBe(
      'table sales.orders has no integer cursor column: pg2ch needs a single-column integer primary key or an integer column named "id", ' +
        'or a cursor named in the config file (tables: {"sales.orders": {cursor: <integer or timestamp column>}})',
    );
  });

  it('buildPlan reports it for a table without a cursor', () => {
    expect(() => plan({ columns: [CREATED, EVENT], primaryKey: [] })).toThrowError(/^table t has no integer cursor column/);
  });

  it('a cursor setting avoids it', () => {
    expect(plan({ columns: [col('seq', 'int8', 'bigint'), EVENT], primaryKey: [] }, { cursor: 'seq', engine: 'MergeTree' }).cursor).toBe('seq');
  });
});

describe('buildPlan: the row key a ReplacingMergeTree needs', () => {
  const A = col('a', 'int4', 'integer');
  const B = col('b', 'int4', 'integer');
  /** CREATE TABLE link(a int, b int, PRIMARY KEY (a, b)) */
  const LINK: SourceSchema = { columns: [A, B], primaryKey: ['a', 'b'], uniqueKeys: [], indexed: ['a'] };
  const FILM_ACTOR: SourceSchema = {
    columns: [col('actor_id', 'int4', 'integer'), col('film_id', 'int4', 'integer'), col('last_update', 'timestamptz', 'timestamp with time zone')],
    primaryKey: ['actor_id', 'film_id'],
    indexed: ['actor_id', 'film_id'],
  };

  it('a non-unique cursor is followed by the rest of the key in ORDER BY', () => {
    const p = plan(LINK, { cursor: 'a' });
    expect(p.layout).toStrictEqual({ engine: 'ReplacingMergeTree', orderBy: ['a', 'b'] });
    expect(p.rowKey).toStrictEqual(['a', 'b']);
    expect(p.cursorShared).toBe(true);
    expect(plan(LINK, { cursor: 'b' }).layout.orderBy).toStrictEqual(['b', 'a']);
  });

  it('film_actor: the default cursor is the key column its index leads, and the key is whole in ORDER BY', () => {
    const p = plan(FILM_ACTOR);
    expect(p.cursor).toBe('actor_id');
    expect(p.layout.orderBy).toStrictEqual(['actor_id', 'film_id']);
    expect(plan(FILM_ACTOR, { cursor: 'film_id' }).layout.orderBy).toStrictEqual(['film_id', 'actor_id']);
  });

  it('a cursor that is the key alone is not shared', () => {
    const p = plan(ACTIVITY_LOGS);
    expect(p.cursorShared).toBeUndefined();
    expect(p.rowKey).toStrictEqual(['id']);
  });

  it('keeps the seed layout when the key is in it already', () => {
    const schema: SourceSchema = { columns: [A, B, CREATED], primaryKey: ['a', 'b'] };
    expect(layoutOf(schema, { cursor: 'b' }).orderBy).toStrictEqual(['created_at', 'b', 'a']);
  });

  it('refuses an orderBy without the whole key, naming it', () => {
    expect(planError(LINK, { cursor: 'a', orderBy: ['a'] }).message).toBe(
      'table t: orderBy must include "b" of the row\'s key, the primary key ("a", "b"): ReplacingMergeTree keeps one row per ORDER BY key, so rows would be lost',
    );
    expect(layoutOf(LINK, { cursor: 'a', orderBy: ['b', 'a'] }).orderBy).toStrictEqual(['b', 'a']);
  });

  it('a unique index is a row key when there is no primary key', () => {
    const schema: SourceSchema = { columns: [ID, col('code', 'text'), col('seq', 'int8', 'bigint')], primaryKey: [], uniqueKeys: [['code', 'seq'], ['code']] };
    const p = plan(schema);
    expect(p.layout.orderBy).toStrictEqual(['id', 'code']);
    expect(p.rowKey).toStrictEqual(['code']);
    expect(p.cursorShared).toBe(true);
    expect(layoutOf(schema, { orderBy: ['seq', 'code'] }).orderBy).toStrictEqual(['seq', 'code']);
  });

  it('refuses a table without a key in a replacing engine; MergeTree appends it', () => {
    const keyless: SourceSchema = { columns: [ID, EVENT], primaryKey: [] };
    const e = planError(keyless);
    expect(e.type).toBe('BadConfig');
    expect(e.message).toBe(
      'table t has no primary key or unique index (on NOT NULL columns), and ReplacingMergeTree keeps one row per ORDER BY key, so rows sharing one would be lost; ' +
        'add a primary key in PostgreSQL, or set engine: MergeTree for t in the config file (rows are only appended)',
    );
    expect(planError(keyless, { orderBy: ['id'] }).message).toMatch(/^table t has no primary key or unique index/);
    const p = plan(keyless, { engine: 'MergeTree' });
    expect(p.layout).toStrictEqual({ engine: 'MergeTree', orderBy: ['id'] });
    expect(p.cursorShared).toBe(true);
    expect(p.rowKey).toBeUndefined();
  });

  it('refuses to exclude a column of the key', () => {
    expect(planError(LINK, { cursor: 'a', exclude: ['b'] }).message).toBe(
      'table t: exclude leaves out "b" of the row\'s key, the primary key ("a", "b"), which ReplacingMergeTree needs in its ORDER BY; keep it copied',
    );
  });

  it('refuses a tiebreak that is not unique', () => {
    const schema: SourceSchema = { columns: [ID, col('tenant', 'int4', 'integer'), UPDATED], primaryKey: ['id'] };
    expect(planError(schema, { mode: 'updated', tiebreak: 'tenant' }).message).toBe(
      'table t: tiebreak column "tenant" is not unique: no primary key or unique index holds only it, so rows sharing a time and a tiebreak would be skipped or doubled; ' +
        'name a column with a primary key or unique index, or add one in PostgreSQL',
    );
    expect(planError(schema, { cursor: 'updated_at', tiebreak: 'tenant' }).message).toMatch(/^table t: tiebreak column "tenant" is not unique \(nor with "updated_at"\)/);
    // Without a key the old fallback to "id" is gone: an id nothing makes unique may repeat.
    expect(planError({ columns: [ID, CREATED], primaryKey: [] }, { cursor: 'created_at', engine: 'MergeTree' }).message).toMatch(/has no primary key or unique index to take it from/);
  });

  it('updated mode needs the tiebreak unique alone, not with the time', () => {
    const schema: SourceSchema = { columns: [ID, UPDATED], primaryKey: ['updated_at', 'id'] };
    expect(planError(schema, { mode: 'updated' }).message).toMatch(/no primary key or unique index to take it from/);
    expect(plan(schema, { cursor: 'updated_at' }).keyset!.tiebreak).toBe('id');
  });
});

describe('chooseCursor and planWarnings: partitioned tables', () => {
  const PAYMENT: SourceSchema = {
    columns: [col('payment_id', 'int4', 'integer'), col('customer_id', 'int4', 'integer'), col('amount', 'numeric', 'numeric(5,2)'), col('payment_date', 'timestamptz', 'timestamp with time zone')],
    primaryKey: ['payment_date', 'payment_id'],
    indexed: ['payment_date', 'customer_id'],
    partitionKey: ['payment_date'],
  };

  it('PRIMARY KEY (payment_date, payment_id): the partition key, with payment_id as tiebreak', () => {
    const p = plan(PAYMENT);
    expect(p.cursor).toBe('payment_date');
    expect(p.keyset).toStrictEqual({ time: 'payment_date', timeType: 'timestamptz', tiebreak: 'payment_id', tiebreakType: 'integer' });
    expect(p.layout.orderBy).toStrictEqual(['payment_date', 'payment_id']);
    expect(planWarnings(PAYMENT, p)).toStrictEqual([]);
  });

  it('without partition info, the timestamp leading the key', () => {
    expect(chooseCursor({ ...PAYMENT, partitionKey: [] }, 't')).toBe('payment_date');
  });

  it('an integer key column with an index comes first', () => {
    expect(chooseCursor({ ...PAYMENT, indexed: [...PAYMENT.indexed!, 'payment_id'] }, 't')).toBe('payment_id');
  });

  it('an integer partition key', () => {
    const schema: SourceSchema = { columns: [col('tenant', 'int4', 'integer'), col('code', 'text')], primaryKey: ['code', 'tenant'], indexed: ['code'], partitionKey: ['tenant'] };
    expect(chooseCursor(schema, 't')).toBe('tenant');
  });

  it('warns when the cursor leads no index', () => {
    const p = plan(PAYMENT, { cursor: 'payment_id' });
    expect(p.layout.orderBy).toStrictEqual(['payment_id', 'payment_date']);
    expect(planWarnings(PAYMENT, p)).toStrictEqual([
      'table t: no index starts with the cursor "payment_id" (on every partition), so every chunk scans the whole table; create one (CREATE INDEX ON ... ("payment_id")) or choose an indexed cursor in the config file',
    ]);
    expect(planWarnings({ ...PAYMENT, partitionKey: [] }, plan(PAYMENT, { cursor: 'customer_id', engine: 'MergeTree' }))).toStrictEqual([]);
    // Indexes not known (an old caller): no warning.
    expect(planWarnings({ ...PAYMENT, indexed: undefined }, p)).toStrictEqual([]);
  });
});

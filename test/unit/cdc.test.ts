import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  batchDue,
  beganBeforeCheckpoint,
  buildCdcPlan,
  CDC_DELETED_COLUMN,
  CDC_VERSION_COLUMN,
  cdcStreams,
  changeLines,
  changeVersion,
  checkStreamName,
  formatLsn,
  parseLsn,
  streamNames,
  streamWarnings,
  secondsBehind,
  formatStreamStatus,
  type TableLines,
} from '../../core/cdc';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { createTableSql } from '../../core/ddl';
import { parseConfigFile } from '../../core/table-settings';
import type { SourceSchema } from '../../core/table-plan';
import { LOGICAL_REPLICATION_FLAGS } from '../../devstack/embedded-postgres';

const OLD = capabilitiesFor('18.16.1');
const NEW = capabilitiesFor('24.8.1');
const T = { schema: 'public', name: 'orders' };
const schema: SourceSchema = {
  columns: [
    { name: 'id', type: 'bigint', typname: 'int8', typtype: 'b', notNull: true },
    { name: 'note', type: 'text', typname: 'text', typtype: 'b', notNull: false },
  ],
  primaryKey: ['id'],
};
const plan = buildCdcPlan(T, schema, { mode: 'cdc' }, OLD, 'analytics');
const lines = (): TableLines => ({ rows: [], deletes: [] });

describe('LSNs and versions', () => {
  it('reads and writes LSNs as 64-bit positions', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(formatLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(formatLsn(parseLsn('FFFFFFFF/FFFFFFFF'))).toBe('FFFFFFFF/FFFFFFFF');
    expect(() => parseLsn('16-B3')).toThrow(/not an LSN/);
  });

  it('takes the version from the WAL position, growing with it and exact above 2^53', () => {
    expect(changeVersion('0/10')).toBe('16');
    expect(changeVersion('FFFFFFFF/FFFFFFFF')).toBe('18446744073709551615');
    expect(BigInt(changeVersion('1/0'))).toBeGreaterThan(BigInt(changeVersion('0/FFFFFFFF')));
  });

  it('skips a transaction whose commit began before the checkpoint, not one beginning at it', () => {
    expect(beganBeforeCheckpoint('0/100', null)).toBe(false);
    expect(beganBeforeCheckpoint('0/FF', '0/100')).toBe(true);
    expect(beganBeforeCheckpoint('0/100', '0/100')).toBe(false);
  });
});

describe('batches', () => {
  const limits = { maxChanges: 3, maxWaitMs: 1000 };
  it('closes by size or by age, never empty', () => {
    expect(batchDue(0, 0, 5000, limits)).toBe(false);
    expect(batchDue(1, 0, 999, limits)).toBe(false);
    expect(batchDue(1, 0, 1000, limits)).toBe(true);
    expect(batchDue(3, 0, 1, limits)).toBe(true);
  });
});

describe('changes as rows', () => {
  it('writes an insert as the row with its version and deleted = 0', () => {
    const out = lines();
    changeLines(plan, { kind: 'insert', lsn: '0/20', table: 'orders', new: { id: '7', note: 'a\tb' } }, out);
    expect(out).toEqual({ rows: ['7\ta\\tb\t32\t0\n'], deletes: [] });
  });

  it('writes a delete as the key with deleted = 1', () => {
    const out = lines();
    changeLines(plan, { kind: 'delete', lsn: '0/21', table: 'orders', old: { id: '7', note: null } }, out);
    expect(out).toEqual({ rows: [], deletes: ['7\t33\t1\n'] });
  });

  it('splits an update of the primary key into a delete of the old key and the new row', () => {
    const out = lines();
    changeLines(plan, { kind: 'update', lsn: '0/22', table: 'orders', old: { id: '7' }, new: { id: '8', note: null } }, out);
    expect(out).toEqual({ rows: ['8\t\\N\t34\t0\n'], deletes: ['7\t34\t1\n'] });
    const same = lines();
    changeLines(plan, { kind: 'update', lsn: '0/23', table: 'orders', old: { id: '8', note: 'x' }, new: { id: '8', note: 'y' } }, same);
    expect(same.deletes).toEqual([]);
  });

  it('refuses an unchanged TOAST value rather than writing it empty', () => {
    expect(() => changeLines(plan, { kind: 'update', lsn: '0/24', table: 'orders', old: null, new: { id: '8', note: undefined } }, lines())).toThrow(
      /column "note" .*unchanged TOAST value.*REPLICA IDENTITY FULL/,
    );
  });
});

describe('the cdc plan', () => {
  it('orders by the primary key into ReplacingMergeTree(_version), with the flag as is_deleted where the server has it', () => {
    expect(plan.columns.map((c) => c.name)).toEqual(['id', 'note', CDC_VERSION_COLUMN, CDC_DELETED_COLUMN]);
    expect(createTableSql({ database: 'a', table: 'orders', columns: plan.columns, layout: plan.layout, caps: OLD })).toMatch(/ReplacingMergeTree\(`_version`\)\nORDER BY \(`id`\)/);
    const newer = buildCdcPlan(T, schema, {}, NEW, 'analytics');
    expect(createTableSql({ database: 'a', table: 'orders', columns: newer.columns, layout: newer.layout, caps: NEW })).toMatch(/ReplacingMergeTree\(`_version`, `_deleted`\)/);
  });

  it('refuses a table without primary key, a watermark setting, a column named like its own', () => {
    expect(() => buildCdcPlan(T, { ...schema, primaryKey: [] }, {}, OLD, 'a')).toThrow(/orders has no primary key.*ADD PRIMARY KEY/);
    expect(() => buildCdcPlan(T, schema, { cursor: 'id' }, OLD, 'a')).toThrow(/cursor does not apply to mode cdc/);
    expect(() => buildCdcPlan(T, { ...schema, columns: [...schema.columns, { name: '_version', type: 'int', typname: 'int4', typtype: 'b', notNull: true }] }, {}, OLD, 'a')).toThrow(/column named _version/);
  });
});

describe('streams', () => {
  it('groups the config file\'s cdc tables by stream and names slot, publication and workflow', () => {
    const cfg = parseConfigFile('f.yaml', { tables: { a: { mode: 'cdc' }, b: { mode: 'cdc', stream: 'billing' }, c: { mode: 'append' }, d: { mode: 'cdc' } } });
    const s = cdcStreams(cfg);
    expect([...s.entries()].map(([k, v]) => [k, v.map((t) => t.table)])).toEqual([['default', ['a', 'd']], ['billing', ['b']]]);
    expect(streamNames('billing')).toEqual({ slot: 'pg2ch_billing', publication: 'pg2ch_billing', workflowId: 'cdc:billing' });
    expect(() => checkStreamName('Bad-Name')).toThrow(/stream name "Bad-Name" is invalid/);
    expect(() => parseConfigFile('f.yaml', { tables: { a: { mode: 'cdc', stream: 'X' } } })).toThrow(/tables\.a\.stream: expected a stream name/);
  });
});

describe('services', () => {
  it('start PostgreSQL with wal_level=logical (embedded and compose)', () => {
    expect(LOGICAL_REPLICATION_FLAGS).toContain('wal_level=logical');
    const compose = parse(readFileSync(join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8'));
    expect(compose.services.postgres.command).toContain('wal_level=logical');
  });
});

describe('stream status', () => {
  const base = { stream: 'default', checkpoint: '0/100', lastBatchAt: '2026-12-02 04:00:00', currentLsn: '0/200', secondsBehind: 0 };
  it('warns on a missing or inactive slot and on WAL past the threshold', () => {
    expect(streamWarnings({ ...base, slot: null })).toEqual(['slot pg2ch_default does not exist: run pg2ch cdc start']);
    expect(streamWarnings({ ...base, slot: { active: true, confirmedLsn: '0/100', retainedBytes: '10' } })).toEqual([]);
    const w = streamWarnings({ ...base, slot: { active: false, confirmedLsn: '0/100', retainedBytes: '10' } }, 5n);
    expect(w).toEqual([expect.stringMatching(/inactive/), expect.stringMatching(/retains 10 bytes of WAL \(over 5\)/)]);
  });

  it('counts seconds behind only while WAL past the checkpoint exists', () => {
    const now = Date.parse('2026-12-02T04:00:30Z');
    expect(secondsBehind('0/200', '0/100', '2026-12-02 04:00:00', now)).toBe(30);
    expect(secondsBehind('0/100', '0/100', '2026-12-02 04:00:00', now)).toBe(0);
    expect(secondsBehind('0/200', null, null, now)).toBe(0);
  });

  it('prints one line per stream, then its warnings', () => {
    const text = formatStreamStatus({ ...base, secondsBehind: 3, slot: { active: false, confirmedLsn: '0/100', retainedBytes: '256' }, warnings: ['w'] });
    expect(text).toBe('stream default: slot pg2ch_default inactive, confirmed 0/100, WAL retained 256 bytes, checkpoint 0/100, last batch 2026-12-02 04:00:00 UTC, 3 s behind\n  warning: w');
  });
});

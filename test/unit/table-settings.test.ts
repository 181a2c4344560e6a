import { describe, expect, it } from 'vitest';
import { MAX_CHUNK_ROWS } from '../../core/config';
import { describeIssues, ENGINES, parseConfigFile, parseTableSettings, SettingsError, settingsFor, tableSettingsSchema } from '../../core/table-settings';

const TABLE_KEYS =
  'mode, cursor, tiebreak, chunkRows, destination, engine, cluster, partitionBy, orderBy, types, exclude, softDelete, numeric, json, outOfRange, lookbackSeconds, shardingKey, stream';

/** The SettingsError message parseConfigFile throws. */
function fileError(raw: unknown, path = 'pg2ch.config.json'): string {
  try {
    parseConfigFile(path, raw);
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    expect((e as Error).name).toBe('SettingsError');
    return (e as Error).message;
  }
  throw new Error('parseConfigFile did not throw');
}

describe('parseConfigFile: valid files', () => {
  const raw = {
    defaults: { chunkRows: 50_000, outOfRange: 'clamp' },
    tables: {
      activity_logs: { cursor: 'id', partitionBy: 'toYYYYMM(created_at)' },
      'sales.orders': {
        mode: 'updated',
        tiebreak: 'id',
        engine: 'ReplicatedReplacingMergeTree',
        cluster: 'main',
        orderBy: ['tenant_id', 'id'],
        types: { amount: 'Decimal(38, 10)' },
        exclude: ['secret'],
        softDelete: 'deleted_at',
        numeric: 'string',
        json: 'json',
        lookbackSeconds: 300,
        destination: 'orders',
      },
    },
  };

  it('keeps the path, the defaults and every table', () => {
    const cfg = parseConfigFile('pg2ch.config.json', raw);
    expect(cfg.path).toBe('pg2ch.config.json');
    expect(cfg.defaults).toStrictEqual({ chunkRows: 50_000, outOfRange: 'clamp' });
    expect([...cfg.tables.keys()]).toStrictEqual(['activity_logs', 'sales.orders']);
    expect(cfg.tables.get('sales.orders')).toStrictEqual(raw.tables['sales.orders']);
  });

  it('settingsFor lays the table entry over the defaults', () => {
    const cfg = parseConfigFile('f', raw);
    expect(settingsFor(cfg, 'activity_logs')).toStrictEqual({
      chunkRows: 50_000,
      outOfRange: 'clamp',
      cursor: 'id',
      partitionBy: 'toYYYYMM(created_at)',
    });
    const override = parseConfigFile('f', { defaults: { chunkRows: 10, mode: 'updated' }, tables: { t: { chunkRows: 20 } } });
    expect(settingsFor(override, 't')).toStrictEqual({ chunkRows: 20, mode: 'updated' });
  });

  it('a table without an entry gets the defaults', () => {
    expect(settingsFor(parseConfigFile('f', raw), 'other')).toStrictEqual({ chunkRows: 50_000, outOfRange: 'clamp' });
  });

  it('no config file: no settings', () => {
    expect(settingsFor(undefined, 'activity_logs')).toStrictEqual({});
  });

  it('a null table entry means the defaults', () => {
    const cfg = parseConfigFile('f', { defaults: { mode: 'updated' }, tables: { orders: null } });
    expect(cfg.tables.get('orders')).toStrictEqual({});
    expect(settingsFor(cfg, 'orders')).toStrictEqual({ mode: 'updated' });
  });

  it('an empty file (null or undefined) is no settings', () => {
    for (const empty of [null, undefined]) {
      const cfg = parseConfigFile('pg2ch.config.yaml', empty);
      expect(cfg).toStrictEqual({ path: 'pg2ch.config.yaml', defaults: {}, tables: new Map() });
    }
  });

  it('defaults and tables are both optional', () => {
    expect(parseConfigFile('f', {})).toStrictEqual({ path: 'f', defaults: {}, tables: new Map() });
  });

  it('normalises table keys: public.t is t, a quoted name keeps its dot', () => {
    const cfg = parseConfigFile('f', { tables: { 'public.events': {}, 'Sales.Orders': {}, '"my.table"': {}, 'other."a.b"': {} } });
    expect([...cfg.tables.keys()]).toStrictEqual(['events', 'Sales.Orders', '"my.table"', 'other."a.b"']);
  });
});

describe('parseConfigFile: errors name the file, the key and what was there', () => {
  it('public.t and t are the same table', () => {
    expect(fileError({ tables: { 'public.t': {}, t: null } })).toBe('pg2ch.config.json: tables: "t" names table t a second time; keep one entry');
    expect(fileError({ tables: { t: {}, 'public.t': {} } })).toBe('pg2ch.config.json: tables: "public.t" names table t a second time; keep one entry');
  });

  it('a table name that is not table or schema.table', () => {
    expect(fileError({ tables: { 'a.b.c': {} } })).toBe('pg2ch.config.json: tables: table name "a.b.c" is not of the form table or schema.table');
  });

  it('an unknown key in a table lists the expected keys', () => {
    expect(fileError({ tables: { orders: { mode: 'append', chunk_rows: 5 } } })).toBe(
      `pg2ch.config.json: tables.orders has unknown key "chunk_rows": expected one of ${TABLE_KEYS}`,
    );
  });

  it('several unknown keys in defaults', () => {
    expect(fileError({ defaults: { foo: 1, bar: 2 } })).toBe(`pg2ch.config.json: defaults has unknown keys "foo", "bar": expected one of ${TABLE_KEYS}`);
  });

  it('an unknown top-level key lists defaults and tables', () => {
    expect(fileError({ table: {} })).toBe('pg2ch.config.json: (top level) has unknown key "table": expected one of defaults, tables');
  });

  it('a bad enum names the path, the expected values and the value got', () => {
    expect(fileError({ tables: { orders: { mode: 'upsert' } } })).toBe('pg2ch.config.json: tables.orders.mode: expected "append", "updated" or "cdc", got "upsert"');
  });

  it('a table name that is not an identifier is quoted in the path', () => {
    expect(fileError({ tables: { 'sales.orders': { outOfRange: 'skip' } } })).toBe(
      'pg2ch.config.json: tables."sales.orders".outOfRange: expected "fail", "clamp" or "null", got "skip"',
    );
  });

  it.each([0, 2_000_000, -1, 1.5, '1000'])('chunkRows %j is rejected', (n) => {
    expect(fileError({ tables: { t: { chunkRows: n } } })).toBe(`pg2ch.config.json: tables.t.chunkRows: expected a whole number from 1 to 1000000, got ${JSON.stringify(n)}`);
  });

  it('chunkRows 1 and the maximum are accepted', () => {
    expect(MAX_CHUNK_ROWS).toBe(1_000_000);
    expect(settingsFor(parseConfigFile('f', { defaults: { chunkRows: 1 }, tables: { t: { chunkRows: MAX_CHUNK_ROWS } } }), 't').chunkRows).toBe(MAX_CHUNK_ROWS);
  });

  it("a type with ';' is rejected", () => {
    expect(fileError({ tables: { t: { types: { c: 'String; DROP TABLE x' } } } })).toBe(
      `pg2ch.config.json: tables.t.types.c: expected a ClickHouse type such as String or Decimal(38, 10) without ';', got "String; DROP TABLE x"`,
    );
  });

  it("a partitionBy with ';' is rejected", () => {
    expect(fileError({ defaults: { partitionBy: 'toYYYYMM(d); SELECT 1' } })).toMatch(/^pg2ch\.config\.json: defaults\.partitionBy: expected .* without ';', got /);
  });

  it('an empty type is rejected', () => {
    expect(fileError({ tables: { t: { types: { c: '' } } } })).toBe(
      'pg2ch.config.json: tables.t.types.c: expected a ClickHouse type such as String or Decimal(38, 10), got ""',
    );
  });

  it('an engine outside the list names the list', () => {
    expect(fileError({ defaults: { engine: 'Log' } })).toBe(`pg2ch.config.json: defaults.engine: expected one of ${ENGINES.join(', ')}, got "Log"`);
  });

  it('a list item is named by its index', () => {
    expect(fileError({ tables: { t: { exclude: ['a', ''] } } })).toBe('pg2ch.config.json: tables.t.exclude[1]: expected a column name, got ""');
  });

  it('tables that is not a map', () => {
    expect(fileError({ tables: ['t'] })).toBe('pg2ch.config.json: tables: expected a map of table name to its settings, got ["t"]');
  });

  it('a missing value reads "got nothing"', () => {
    expect(describeIssues('f', {}, [{ code: 'custom', path: ['tables', 't', 'mode'], message: 'expected "append" or "updated"', input: undefined }])).toBe(
      'f: tables.t.mode: expected "append" or "updated", got nothing',
    );
  });

  it('lists several problems, one a line', () => {
    expect(fileError({ tables: { a: { mode: 'x' }, b: { chunkRows: 0 } } }).split('\n')).toStrictEqual([
      'pg2ch.config.json: tables.a.mode: expected "append", "updated" or "cdc", got "x"',
      'pg2ch.config.json: tables.b.chunkRows: expected a whole number from 1 to 1000000, got 0',
    ]);
  });

  it('lists at most ten problems', () => {
    const tables = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`t${i}`, { mode: 'x' }]));
    expect(fileError({ tables }).split('\n')).toHaveLength(10);
  });
});

describe('parseTableSettings', () => {
  it('nothing is no settings', () => {
    expect(parseTableSettings(undefined)).toStrictEqual({});
    expect(parseTableSettings(null)).toStrictEqual({});
  });

  it('returns valid settings as they are', () => {
    const s = { mode: 'updated', cursor: 'changed_at', lookbackSeconds: 0, orderBy: ['id'] };
    expect(parseTableSettings(s)).toStrictEqual(s);
  });

  it('names the source in the message', () => {
    expect(() => parseTableSettings({ mode: 'x' }, 'workflow input')).toThrowError(
      new SettingsError('workflow input: mode: expected "append", "updated" or "cdc", got "x"'),
    );
  });

  it('defaults the source to "table settings"', () => {
    expect(() => parseTableSettings({ orderBy: [] })).toThrowError('table settings: orderBy: expected at least one column, got []');
  });

  it('rejects unknown keys', () => {
    // Not pinned past the key: the expected-keys list here is the config file's top level (reported as a bug).
    expect(() => parseTableSettings({ mode: 'append', cursr: 'id' })).toThrowError(/^table settings: \(top level\) has unknown key "cursr": expected one of /);
  });

  it.each([
    [{ lookbackSeconds: -1 }, 'lookbackSeconds: expected a whole number of seconds, 0 or more, got -1'],
    [{ lookbackSeconds: 604801 }, 'lookbackSeconds: expected at most 604800 seconds (7 days), got 604801'],
    [{ cluster: 'my-cluster' }, 'cluster: expected a cluster name such as default, got "my-cluster"'],
    [{ cursor: 'x'.repeat(64) }, `cursor: expected a column name of at most 63 bytes, got "${'x'.repeat(64)}"`],
    [{ numeric: 'float' }, 'numeric: expected "decimal" or "string", got "float"'],
    [{ json: 'object' }, 'json: expected "string" or "json", got "object"'],
  ])('rejects %j', (input, message) => {
    expect(() => parseTableSettings(input)).toThrowError(`table settings: ${message}`);
  });

  it('every schema key is listed in unknown-key messages', () => {
    expect(Object.keys(tableSettingsSchema.shape).join(', ')).toBe(TABLE_KEYS);
  });
});

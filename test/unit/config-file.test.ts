import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILES, loadConfigFile } from '../../client/config-file';
import { ConfigError } from '../../core/config';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg2ch-config-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

/** The ConfigError message loadConfigFile throws. */
function loadError(explicit?: string): string {
  try {
    loadConfigFile(explicit, dir);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('loadConfigFile did not throw');
}

describe('loadConfigFile', () => {
  it('looks for pg2ch.config.json, .yaml and .yml', () => {
    expect(DEFAULT_CONFIG_FILES).toStrictEqual(['pg2ch.config.json', 'pg2ch.config.yaml', 'pg2ch.config.yml']);
  });

  it('no file: undefined (every table on defaults)', () => {
    expect(loadConfigFile(undefined, dir)).toBeUndefined();
  });

  it('a file of another name is not a config file', () => {
    write('pg2ch.json', '{"defaults": {"mode": "x"}}');
    expect(loadConfigFile(undefined, dir)).toBeUndefined();
  });

  it('finds pg2ch.config.json and shows it by its name', () => {
    write('pg2ch.config.json', JSON.stringify({ defaults: { chunkRows: 1000 }, tables: { 'public.orders': { mode: 'updated' } } }));
    const cfg = loadConfigFile(undefined, dir)!;
    expect(cfg.path).toBe('pg2ch.config.json');
    expect(cfg.defaults).toStrictEqual({ chunkRows: 1000 });
    expect([...cfg.tables]).toStrictEqual([['orders', { mode: 'updated' }]]);
  });

  it('finds pg2ch.config.yaml', () => {
    write(
      'pg2ch.config.yaml',
      ['defaults:', '  outOfRange: clamp', 'tables:', '  sales.orders:', '    mode: updated', '    orderBy: [tenant_id, id]', '  activity_logs:', ''].join('\n'),
    );
    const cfg = loadConfigFile(undefined, dir)!;
    expect(cfg.path).toBe('pg2ch.config.yaml');
    expect(cfg.defaults).toStrictEqual({ outOfRange: 'clamp' });
    expect(cfg.tables.get('sales.orders')).toStrictEqual({ mode: 'updated', orderBy: ['tenant_id', 'id'] });
    // An entry with no value is a table on the defaults.
    expect(cfg.tables.get('activity_logs')).toStrictEqual({});
  });

  it('finds pg2ch.config.yml', () => {
    write('pg2ch.config.yml', 'defaults:\n  chunkRows: 5\n');
    expect(loadConfigFile(undefined, dir)!.defaults).toStrictEqual({ chunkRows: 5 });
  });

  it('an empty YAML file is a config with no settings', () => {
    write('pg2ch.config.yaml', '');
    expect(loadConfigFile(undefined, dir)).toStrictEqual({ path: 'pg2ch.config.yaml', defaults: {}, tables: new Map() });
  });

  it('both json and yaml: ConfigError naming both', () => {
    write('pg2ch.config.json', '{}');
    write('pg2ch.config.yaml', '{}');
    expect(loadError()).toBe(`both ${join(dir, 'pg2ch.config.json')} and ${join(dir, 'pg2ch.config.yaml')} exist; keep one, or choose with --config`);
  });

  it('--config chooses between two default files', () => {
    write('pg2ch.config.json', '{"defaults": {"chunkRows": 1}}');
    write('pg2ch.config.yaml', 'defaults:\n  chunkRows: 2\n');
    expect(loadConfigFile('pg2ch.config.yaml', dir)!.defaults).toStrictEqual({ chunkRows: 2 });
  });

  it('--config with a file that does not exist: ConfigError', () => {
    expect(loadError('missing.yaml')).toBe('--config missing.yaml: no such file');
  });

  it('--config is read relative to the working directory, and shown as given', () => {
    mkdirSync(join(dir, 'conf'));
    write('conf/sync.json', '{"tables": {"t": {"mode": "append"}}}');
    const cfg = loadConfigFile('conf/sync.json', dir)!;
    expect(cfg.path).toBe('conf/sync.json');
    expect(cfg.tables.get('t')).toStrictEqual({ mode: 'append' });
  });

  it('--config with an absolute path', () => {
    write('other.yaml', 'defaults:\n  mode: updated\n');
    expect(loadConfigFile(join(dir, 'other.yaml'), '/')!.defaults).toStrictEqual({ mode: 'updated' });
  });

  it('--config with any other extension is read as YAML', () => {
    write('sync.conf', 'defaults:\n  json: json\n');
    expect(loadConfigFile('sync.conf', dir)!.defaults).toStrictEqual({ json: 'json' });
  });

  it('invalid JSON: ConfigError naming the file', () => {
    write('pg2ch.config.json', '{"defaults": {"mode": "append",}}');
    expect(loadError()).toMatch(/^pg2ch\.config\.json cannot be read: \S/);
  });

  it('invalid YAML: ConfigError naming the file, on one line', () => {
    write('pg2ch.config.yaml', 'defaults:\n  mode: [append\n');
    const message = loadError();
    expect(message).toMatch(/^pg2ch\.config\.yaml cannot be read: \S/);
    expect(message).not.toContain('\n');
  });

  it('YAML with a bad value: ConfigError naming the key', () => {
    write('pg2ch.config.yaml', 'tables:\n  orders:\n    mode: upsert\n');
    expect(loadError()).toBe('pg2ch.config.yaml: tables.orders.mode: expected "append", "updated" or "cdc", got "upsert"');
  });

  it('JSON with an unknown key: ConfigError listing the keys', () => {
    write('pg2ch.config.json', '{"tables": {"orders": {"chunk_rows": 5}}}');
    expect(loadError()).toMatch(/^pg2ch\.config\.json: tables\.orders has unknown key "chunk_rows": expected one of mode, cursor, /);
  });

  it('a duplicate table: ConfigError', () => {
    write('pg2ch.config.yaml', 'tables:\n  public.t: {}\n  t: {}\n');
    expect(loadError()).toBe('pg2ch.config.yaml: tables: "t" names table t a second time; keep one entry');
  });

  it('an explicit file shows its --config spelling in errors', () => {
    write('my.json', '{"defaults": {"chunkRows": 0}}');
    expect(loadError('my.json')).toBe('my.json: defaults.chunkRows: expected a whole number from 1 to 1000000, got 0');
  });
});

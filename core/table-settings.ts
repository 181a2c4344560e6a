import { z } from 'zod';
import { MAX_CHUNK_ROWS } from './config';
import { ENGINES } from './ddl';
import { parseTableName, tableKey } from './table-name';

/**
 * Per-table settings from the config file (pg2ch.config.json or .yaml). They
 * travel in workflow input, so they hold names and choices, never secrets,
 * and they are checked again by the activities: any Temporal client may
 * start a workflow.
 */

const column = z.string({ error: 'expected a column name' }).min(1, { error: 'expected a column name' }).max(63, { error: 'expected a column name of at most 63 bytes' });
// ClickHouse text spliced into DDL as written: a type, a PARTITION BY
// expression. It is the user's own DDL, but one statement only.
const ddlText = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .min(1, { error: `expected ${what}` })
    .refine((s) => !/[;\0]/.test(s), { error: `expected ${what} without ';'` });

export { ENGINES };

export const tableSettingsSchema = z
  .object({
    /** append: rows are only inserted (cursor grows). updated: rows change, cursor is an updated_at column. cdc: every change from PostgreSQL's logical replication (pg2ch cdc start). */
    mode: z.enum(['append', 'updated', 'cdc'], { error: 'expected "append", "updated" or "cdc"' }),
    /** Integer or timestamp column chunks are cut by; updated mode: the updated_at column. */
    cursor: column,
    /** Unique column ordering rows that share a timestamp cursor value (default: the primary key). */
    tiebreak: column,
    chunkRows: z.number({ error: `expected a whole number from 1 to ${MAX_CHUNK_ROWS}` }).int({ error: `expected a whole number from 1 to ${MAX_CHUNK_ROWS}` }).min(1, { error: `expected a whole number from 1 to ${MAX_CHUNK_ROWS}` }).max(MAX_CHUNK_ROWS, { error: `expected a whole number from 1 to ${MAX_CHUNK_ROWS}` }),
    /** ClickHouse table name (in CLICKHOUSE_DATABASE). */
    destination: z.string({ error: 'expected a ClickHouse table name' }).min(1, { error: 'expected a ClickHouse table name' }).max(200, { error: 'expected a ClickHouse table name of at most 200 characters' }),
    engine: z.enum(ENGINES, { error: `expected one of ${ENGINES.join(', ')}` }),
    /** ON CLUSTER for the DDL; Replicated* engines need it (or CLICKHOUSE_CLUSTER). */
    cluster: z.string({ error: 'expected a cluster name' }).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected a cluster name such as default' }),
    partitionBy: ddlText('a ClickHouse expression such as toYYYYMM(created_at)'),
    orderBy: z.array(column, { error: 'expected a list of column names' }).min(1, { error: 'expected at least one column' }),
    /** Column -> ClickHouse type, replacing the default mapping (e.g. a type pg2ch does not map, as String). */
    types: z.record(z.string(), ddlText('a ClickHouse type such as String or Decimal(38, 10)'), { error: 'expected a map of column name to ClickHouse type' }),
    exclude: z.array(column, { error: 'expected a list of column names' }),
    /** Boolean (or nullable timestamp such as deleted_at) marking rows deleted: ReplacingMergeTree's is_deleted. */
    softDelete: column,
    /** Unbounded numeric: Decimal(76, 38) (values that do not fit follow outOfRange), or exact text. */
    numeric: z.enum(['decimal', 'string'], { error: 'expected "decimal" or "string"' }),
    /** json/jsonb as exact text, or ClickHouse's JSON type where the server has it. */
    json: z.enum(['string', 'json'], { error: 'expected "string" or "json"' }),
    /** Values the ClickHouse type cannot hold: stop the sync, clamp to the nearest held value, or NULL. */
    outOfRange: z.enum(['fail', 'clamp', 'null'], { error: 'expected "fail", "clamp" or "null"' }),
    /** Updated mode: each run re-reads rows updated this many seconds before the watermark (transactions that committed late). */
    lookbackSeconds: z.number({ error: 'expected a whole number of seconds' }).int({ error: 'expected a whole number of seconds' }).min(0, { error: 'expected a whole number of seconds, 0 or more' }).max(7 * 86400, { error: 'expected at most 604800 seconds (7 days)' }),
    /** With several shards: the Distributed table's sharding key (default: a hash of the row's key). */
    shardingKey: ddlText('a ClickHouse expression such as cityHash64(id)'),
    /** Mode cdc: the stream (one replication slot and publication, one workflow) the table is read by; default "default". */
    stream: z.string({ error: 'expected a stream name' }).regex(/^[a-z][a-z0-9_]{0,39}$/, { error: 'expected a stream name of lowercase letters, digits and _ (starting with a letter, at most 40), such as default' }),
  })
  .partial()
  .strict();

export type TableSettings = z.infer<typeof tableSettingsSchema>;

export const configFileSchema = z
  .object({
    /** Settings every table gets unless its own entry says otherwise. */
    defaults: tableSettingsSchema.optional(),
    /** Keyed by `table` or `schema.table`. */
    tables: z.record(z.string(), tableSettingsSchema.nullable(), { error: 'expected a map of table name to its settings' }).optional(),
  })
  .strict();

export interface ConfigFile {
  /** Where it was read from, for messages. */
  path: string;
  defaults: TableSettings;
  /** Keys normalized with tableKey, in file order. */
  tables: Map<string, TableSettings>;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const s = String(p);
      out += (out ? '.' : '') + (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : JSON.stringify(s));
    }
  }
  return out || '(top level)';
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

const KNOWN_KEYS: Record<string, readonly string[]> = {
  top: ['defaults', 'tables'],
  table: Object.keys(tableSettingsSchema.shape),
};

/** One line per problem: where, what was expected, what was there. */
export function describeIssues(source: string, input: unknown, issues: z.core.$ZodIssue[]): string {
  const lines = issues.slice(0, 10).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = issue.path.length === 0 ? KNOWN_KEYS.top! : KNOWN_KEYS.table!;
      return `${source}: ${pathText(issue.path)} has unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: expected one of ${known.join(', ')}`;
    }
    const got = valueAt(input, issue.path);
    return `${source}: ${pathText(issue.path)}: ${issue.message}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`;
  });
  return lines.join('\n');
}

/** Settings from workflow input or a file, checked; throws SettingsError naming the key. */
export function parseTableSettings(input: unknown, source = 'table settings'): TableSettings {
  const r = tableSettingsSchema.safeParse(input ?? {});
  if (!r.success) throw new SettingsError(describeIssues(source, input, r.error.issues));
  return r.data;
}

/** A parsed config file's content (JSON or YAML already decoded). */
export function parseConfigFile(path: string, raw: unknown): ConfigFile {
  if (raw === null || raw === undefined) return { path, defaults: {}, tables: new Map() };
  const r = configFileSchema.safeParse(raw);
  if (!r.success) throw new SettingsError(describeIssues(path, raw, r.error.issues));
  const tables = new Map<string, TableSettings>();
  for (const [name, settings] of Object.entries(r.data.tables ?? {})) {
    let key: string;
    try {
      key = tableKey(parseTableName(name));
    } catch (e) {
      throw new SettingsError(`${path}: tables: ${(e as Error).message}`);
    }
    if (tables.has(key)) throw new SettingsError(`${path}: tables: ${JSON.stringify(name)} names table ${key} a second time; keep one entry`);
    tables.set(key, settings ?? {});
  }
  return { path, defaults: r.data.defaults ?? {}, tables };
}

/** The settings a table runs with: its own entry over the defaults. */
export function settingsFor(config: ConfigFile | undefined, key: string): TableSettings {
  if (!config) return {};
  return { ...config.defaults, ...(config.tables.get(key) ?? {}) };
}

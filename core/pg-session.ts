/**
 * PostgreSQL settings pg2ch pins in its own sessions. Startup options (`-c`)
 * take precedence over the defaults an administrator set with ALTER ROLE or
 * ALTER DATABASE ... SET, and over postgresql.conf, so the text COPY prints
 * and the catalog text introspection compares do not depend on them, and no
 * role default can cut a long COPY.
 */
export const PINNED_SETTINGS: ReadonlyArray<readonly [name: string, value: string, why: string]> = [
  // Text output of values.
  ['DateStyle', 'ISO,YMD', 'dates and timestamps as ISO text ClickHouse parses'],
  ['TimeZone', 'UTC', 'timestamptz rendered in UTC, timestamp arithmetic without a zone shift'],
  ['IntervalStyle', 'postgres', 'intervals as documented (1 year 2 mons ...)'],
  ['extra_float_digits', '1', 'shortest exact float text'],
  ['bytea_output', 'hex', 'bytea as \\x... hex'],
  ['client_encoding', 'UTF8', 'the text node-postgres decodes as UTF-8'],
  ['lc_monetary', 'C', 'money text independent of the server locale'],
  ['lc_numeric', 'C', 'to_char numbers independent of the server locale'],
  ['lc_time', 'C', 'to_char names independent of the server locale'],
  ['xmloption', 'content', 'xml values parsed as they were stored'],
  ['xmlbinary', 'base64', 'binary inside generated xml'],
  // How pg2ch's own SQL reads.
  ['standard_conforming_strings', 'on', "string literals as core/quote.ts writes them"],
  ['array_nulls', 'on', 'NULL inside array literals is NULL'],
  ['transform_null_equals', 'off', 'x = NULL keeps its SQL meaning'],
  ['quote_all_identifiers', 'off', 'format_type() text the type map and the source signature compare'],
  ['search_path', '"$user",public', "PostgreSQL's default: type names format_type() prints resolve in every session"],
  ['timezone_abbreviations', 'Default', 'zone abbreviations in literals'],
  // Nothing a role default sets may cut a long COPY or a snapshot held between statements.
  ['statement_timeout', '0', 'a COPY of a large chunk takes as long as it takes'],
  ['lock_timeout', '0', 'waiting behind a migration pauses the copy instead of failing it'],
  ['idle_in_transaction_session_timeout', '0', 'the snapshot transaction stays open while ClickHouse reads'],
  ['default_transaction_isolation', 'read committed', 'serializable fails on a standby'],
  ['exit_on_error', 'off', 'an expected error (a range guard) does not end the session'],
];

/**
 * Settings that exist only on newer servers: an unknown `-c` option fails the
 * connection, so these are set after connecting where the server has them
 * (idle_session_timeout from PostgreSQL 14, transaction_timeout from 17).
 */
export const PINNED_IF_PRESENT: ReadonlyArray<readonly [name: string, value: string]> = [
  ['idle_session_timeout', '0'],
  ['transaction_timeout', '0'],
];

/** The startup options string: `-c name=value` with spaces and backslashes escaped as PostgreSQL splits it. */
export function sessionOptions(settings = PINNED_SETTINGS): string {
  return settings.map(([name, value]) => `-c ${name}=${value.replace(/[\\\s]/g, (c) => `\\${c}`)}`).join(' ');
}

/** One statement setting PINNED_IF_PRESENT on this session, whatever the server's version. */
export const PIN_IF_PRESENT_SQL = `SELECT set_config(s.name, v.value, false) FROM pg_settings s JOIN (VALUES ${PINNED_IF_PRESENT.map(
  ([n, v]) => `('${n}', '${v}')`,
).join(', ')}) AS v(name, value) ON s.name = v.name`;

/** Settings a connection without pg2ch's options gets, as the embedded engine's postgresql() connection will. */
export const PULL_SETTINGS = ['DateStyle', 'client_encoding', 'standard_conforming_strings', 'statement_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout'];

/**
 * Why the embedded engine's own connection, which gets the role's and the
 * database's defaults rather than pg2ch's pins, would not copy exactly or
 * could be cut mid-stream; undefined when it is safe. `current` holds
 * current_setting() of PULL_SETTINGS (those the server has). The other pins
 * do not matter there: pulled columns are of types whose text no other
 * setting changes (timestamp without time zone, date, integers, text, json).
 */
export function pullBlocker(current: Readonly<Record<string, string>>): string | undefined {
  const bad = (name: string, ok: (v: string) => boolean) => {
    const v = current[name];
    return v !== undefined && !ok(v) ? `${name} = ${v}` : undefined;
  };
  const found =
    bad('DateStyle', (v) => /^ISO\b/i.test(v)) ??
    bad('client_encoding', (v) => /^UTF-?8$/i.test(v)) ??
    bad('standard_conforming_strings', (v) => v === 'on') ??
    bad('statement_timeout', (v) => v === '0') ??
    bad('idle_in_transaction_session_timeout', (v) => v === '0') ??
    bad('transaction_timeout', (v) => v === '0');
  return found && `the role's or database's default ${found} would reach the embedded engine's own PostgreSQL connection`;
}

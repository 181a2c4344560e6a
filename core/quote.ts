// Identifiers and literals are always quoted here, never spliced: table names
// come from users and may hold quotes, semicolons or unicode.

/** PostgreSQL identifier: "name" with embedded quotes doubled. */
export function pgIdent(name: string): string {
  assertNoNul(name);
  return `"${name.replace(/"/g, '""')}"`;
}

/** PostgreSQL string literal, standard_conforming_strings on (the default since 9.1). */
export function pgString(value: string): string {
  assertNoNul(value);
  return `'${value.replace(/'/g, "''")}'`;
}

/** ClickHouse identifier: `name` with backslash and backtick escaped. */
export function chIdent(name: string): string {
  assertNoNul(name);
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** ClickHouse string literal. Used instead of query parameters, which old servers lack. */
export function chString(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0') + "'";
}

export function chQualified(database: string, table: string): string {
  return `${chIdent(database)}.${chIdent(table)}`;
}

/** A decimal integer literal (int8 ranges travel as strings, never JS numbers). */
export function intLiteral(value: string): string {
  if (!/^-?\d{1,20}$/.test(value)) throw new Error(`not an integer literal: ${JSON.stringify(value)}`);
  return value;
}

/**
 * Whether the embedded engine's postgresql() names this identifier exactly
 * when it queries PostgreSQL. It writes "name" with backslash escapes (a"b
 * as "a\"b", a tab as "\t"), which PostgreSQL does not read as escapes: a
 * name with a double quote, a backslash or a control character is a syntax
 * error or a column that does not exist. Every other name is written exactly.
 */
export function postgresqlQuotesExactly(name: string): boolean {
  return !/["\\\x00-\x1f\x7f]/.test(name);
}

function assertNoNul(s: string): void {
  if (s.includes('\0')) throw new Error('identifiers and literals cannot contain NUL bytes');
}

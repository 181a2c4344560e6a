import type { ColumnPlan } from './types';

/**
 * The CDC path's renderer: turns a value as pgoutput sends it (the column
 * type's text output, or null) into the TabSeparated field the COPY path
 * would have produced for the same value through the column's `select`
 * expression (core/type-map.ts), so both sources write identical rows.
 *
 * Placeholder while the per-type renderers are written: COPY text escaping of
 * the raw text, which is exact only for columns whose `select` is the bare
 * column (integers, text, uuid, ...).
 */
export function renderChangeValue(column: ColumnPlan, text: string | null): string {
  void column;
  if (text === null) return '\\N';
  return escapeCopyText(text);
}

/** One TabSeparated line (newline included) from a row's values in plan order. */
export function renderChangeRow(columns: readonly ColumnPlan[], values: readonly (string | null)[]): string {
  const fields = new Array<string>(columns.length);
  for (let i = 0; i < columns.length; i++) fields[i] = renderChangeValue(columns[i]!, values[i] ?? null);
  return `${fields.join('\t')}\n`;
}

/** COPY's text format: backslash, and the control characters it escapes. */
export function escapeCopyText(text: string): string {
  return text.replace(/[\\\t\n\r\b\f\v]/g, (c) => COPY_ESCAPES[c]!);
}

const COPY_ESCAPES: Record<string, string> = {
  '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v',
};

import { pgIdent } from './quote';

export interface SourceTable {
  schema: string;
  name: string;
}

/**
 * Splits `schema.table` at the first unquoted dot. A name written with double
 * quotes ("my.table") keeps its dots; with no schema the table is in `public`.
 */
export function parseTableName(input: string): SourceTable {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '"') {
      if (quoted && input[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === '.' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw new Error(`table name ${JSON.stringify(input)} has an unclosed double quote`);
  parts.push(cur);
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new Error(`table name ${JSON.stringify(input)} is not of the form table or schema.table`);
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: 'public', name: parts[0]! };
}

export function pgTableRef(t: SourceTable): string {
  return `${pgIdent(t.schema)}.${pgIdent(t.name)}`;
}

/**
 * Key used in workflow ids, sync_control and logs: `table` for public,
 * `schema.table` otherwise, with a part double-quoted only when it holds a
 * dot or a quote, so parseTableName(tableKey(t)) always gives t back.
 */
export function tableKey(t: SourceTable): string {
  const part = (p: string) => (/^[^".]+$/.test(p) ? p : `"${p.replace(/"/g, '""')}"`);
  return t.schema === 'public' ? part(t.name) : `${part(t.schema)}.${part(t.name)}`;
}

// What `npm start` prints: the seed's queries as tables, and the seed's
// PostgreSQL vs ClickHouse comparison measured on this data. Pure formatting
// here; the caller runs the queries.

/** A fixed-width text table; numbers right-aligned. */
export function textTable(rows: Array<Record<string, unknown>>, maxRows = 10): string {
  if (rows.length === 0) return '  (no rows)';
  const cols = Object.keys(rows[0]!);
  const shown = rows.slice(0, maxRows).map((r) => cols.map((c) => String(r[c] ?? '')));
  const width = cols.map((c, i) => Math.max(c.length, ...shown.map((r) => r[i]!.length)));
  const numeric = cols.map((_, i) => shown.every((r) => /^-?[\d.,]+( ms|x)?$/.test(r[i]!)));
  const cell = (v: string, i: number) => (numeric[i] ? v.padStart(width[i]!) : v.padEnd(width[i]!));
  const lines = [
    '  ' + cols.map((c, i) => cell(c, i)).join('  '),
    '  ' + width.map((w) => '-'.repeat(w)).join('  '),
    ...shown.map((r) => '  ' + r.map((v, i) => cell(v, i)).join('  ')),
  ];
  if (rows.length > maxRows) lines.push(`  ... ${rows.length - maxRows} more rows`);
  return lines.join('\n');
}

export interface Timing {
  query: string;
  postgresMs: number;
  clickhouseMs: number;
  /** Both engines gave the same answer. */
  same: boolean;
  answer: string;
}

const ms = (v: number) => (v < 10 ? v.toFixed(1) : v.toFixed(0)) + ' ms';

/** The seed's "Performance Comparison" table, with this machine's figures. */
export function comparisonTable(rows: Timing[], tableRows: string): string {
  return [
    `Performance comparison on this data (${tableRows} rows; best of 3 runs each):`,
    textTable(
      rows.map((t) => ({
        'Query Type': t.query,
        PostgreSQL: ms(t.postgresMs),
        ClickHouse: ms(t.clickhouseMs),
        Speedup: `${(t.postgresMs / Math.max(0.1, t.clickhouseMs)).toFixed(1)}x`,
        Answer: t.same ? `${t.answer} (same in both)` : `DIFFERENT: ${t.answer}`,
      })),
    ),
  ].join('\n');
}

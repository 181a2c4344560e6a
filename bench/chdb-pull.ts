// Child process of the benchmark: the embedded engine pulling the table by
// itself with its postgresql() table function, the reference pg2ch's
// embedded path is compared with. Prints one JSON line: { ms, rows, peakRssMb }.
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { peakRssMb } from './measure';

async function main() {
  const need = (name: string): string => {
    const v = process.env[name];
    if (v === undefined) throw new Error(`${name} is not set`);
    return v;
  };
  const [CHDB_PATH, DDL, TABLE, PG_HOST_PORT, PG_DB, PG_USER, PG_PASSWORD, SOURCE_TABLE, COLUMNS] = [
    'CHDB_PATH', 'DDL', 'TABLE', 'PG_HOST_PORT', 'PG_DB', 'PG_USER', 'PG_PASSWORD', 'SOURCE_TABLE', 'COLUMNS',
  ].map(need) as [string, string, string, string, string, string, string, string, string];
  const client = createClient({ connection: createChdbConnection({ path: CHDB_PATH }) } as Parameters<typeof createClient>[0]);
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS bench_pull' });
  await client.command({ query: `DROP TABLE IF EXISTS ${TABLE}` });
  await client.command({ query: DDL });
  const esc = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const t0 = performance.now();
  await client.command({
    query: `INSERT INTO ${TABLE} SELECT ${COLUMNS} FROM postgresql(${esc(PG_HOST_PORT)}, ${esc(PG_DB)}, ${esc(SOURCE_TABLE)}, ${esc(PG_USER)}, ${esc(PG_PASSWORD)})`,
  });
  const ms = Math.round(performance.now() - t0);
  const rs = await client.query({ query: `SELECT toString(count()) AS n FROM ${TABLE}`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string }>();
  process.stdout.write(JSON.stringify({ ms, rows: Number(row!.n), peakRssMb: peakRssMb(process.pid) }) + '\n');
  await client.close();
}
main().catch((e) => {
  process.stderr.write(String(e?.message ?? e) + '\n');
  process.exit(1);
});

import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import type { Pool } from 'pg';
import { formatLsn, parseLsn, type Tuple } from '../core/cdc';
import type { PostgresConfig } from '../core/config';
import { UserError } from '../core/errors';
import { sessionOptions } from '../core/pg-session';
import { pgIdent } from '../core/quote';
import { pgTableRef, tableKey, type SourceTable } from '../core/table-name';
import type { CdcSource, ChangeEvent, OpenStream, StreamNames } from './types';

const fix = (msg: string) => new UserError(msg, 'CdcSetup');

/**
 * Settings and privileges a stream needs, checked before anything is
 * created, each failure one line naming the fix.
 */
export async function checkPrerequisites(pg: Pool, names: StreamNames, tables: SourceTable[]): Promise<void> {
  const s = (await pg.query<{ wal_level: string; slots: string; used: string; senders: string; replication: boolean; exists: boolean; role: string }>(
    `SELECT current_setting('wal_level') AS wal_level, current_setting('max_replication_slots') AS slots,
            current_setting('max_wal_senders') AS senders,
            (SELECT count(*)::text FROM pg_replication_slots) AS used,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS replication,
            EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) AS exists, current_user AS role`,
    [names.slot],
  )).rows[0]!;
  if (s.wal_level !== 'logical') {
    throw fix(`PostgreSQL has wal_level = ${s.wal_level}, and CDC reads logical replication: run ALTER SYSTEM SET wal_level = logical (or set it in postgresql.conf) and restart PostgreSQL`);
  }
  if (!s.replication) {
    throw fix(`role ${s.role} may not read replication: run ALTER ROLE ${pgIdent(s.role)} REPLICATION (as a superuser), or set PG_URL to a role that has it`);
  }
  if (!s.exists && Number(s.used) >= Number(s.slots)) {
    throw fix(`PostgreSQL's max_replication_slots = ${s.slots} are all in use, so slot ${names.slot} cannot be created: raise max_replication_slots in postgresql.conf and restart, or drop an unused slot (SELECT slot_name, active FROM pg_replication_slots)`);
  }
  if (Number(s.senders) < 1) throw fix(`PostgreSQL has max_wal_senders = ${s.senders}: set it to 10 or more in postgresql.conf and restart`);
  for (const t of tables) {
    const r = (await pg.query<{ oid: string | null; ident: string | null; pk: boolean; toastable: string[] | null }>(
      `SELECT c.oid::text AS oid, c.relreplident::text AS ident,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
              (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attstorage IN ('x', 'e')) AS toastable
         FROM pg_class c WHERE c.oid = to_regclass($1)`,
      [pgTableRef(t)],
    )).rows[0];
    const key = tableKey(t);
    if (!r?.oid) throw fix(`table ${key} does not exist in PostgreSQL; check the name and the database in PG_URL`);
    if (!r.pk) throw fix(`table ${key} has no primary key, which CDC needs to name the rows it updates and deletes: add one (ALTER TABLE ${pgTableRef(t)} ADD PRIMARY KEY (...))`);
    if (r.ident === 'n') throw fix(`table ${key} has REPLICA IDENTITY NOTHING, so its updates and deletes do not say which row: run ALTER TABLE ${pgTableRef(t)} REPLICA IDENTITY FULL`);
    // Without FULL, pgoutput sends a TOASTed value an update left unchanged
    // as "unchanged" with no content: it could only be guessed. With FULL the
    // old row carries it (and the decoder fills the new row from it).
    if (r.ident !== 'f' && r.toastable && r.toastable.length > 0) {
      throw fix(
        `table ${key} has columns PostgreSQL may store out of line (${r.toastable.slice(0, 5).join(', ')}${r.toastable.length > 5 ? ', ...' : ''}), whose values an update leaves out of the change unless the table has REPLICA IDENTITY FULL: run ALTER TABLE ${pgTableRef(t)} REPLICA IDENTITY FULL (each update and delete then logs the old row)`,
      );
    }
  }
}

/** The publication names exactly the stream's tables: created, or its table list set. */
async function ensurePublication(pg: Pool, publication: string, tables: SourceTable[]): Promise<void> {
  const list = tables.map(pgTableRef).join(', ');
  const have = await pg.query<{ t: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_publication_tables WHERE pubname = $1`,
    [publication],
  );
  const exists = (await pg.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication])).rowCount! > 0;
  try {
    if (!exists) await pg.query(`CREATE PUBLICATION ${pgIdent(publication)} FOR TABLE ${list}`);
    else {
      const want = new Set(tables.map(pgTableRef));
      const same = have.rows.length === want.size && have.rows.every((r) => want.has(r.t));
      if (!same) await pg.query(`ALTER PUBLICATION ${pgIdent(publication)} SET TABLE ${list}`);
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === '42501') throw fix(`cannot ${exists ? 'change' : 'create'} publication ${publication}: ${(e as Error).message}; run it as the tables' owner or a superuser: CREATE PUBLICATION ${pgIdent(publication)} FOR TABLE ${list}`);
    throw e;
  }
}

async function ensureSlot(pg: Pool, slot: string): Promise<boolean> {
  const exists = (await pg.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot])).rowCount! > 0;
  if (exists) return false;
  await pg.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return true;
}

function asTuple(t: Record<string, unknown> | null): Tuple | null {
  return t as Tuple | null;
}

/** pgoutput with every value kept as the text PostgreSQL sent (the library would parse it into JS values). */
class TextPgoutput extends PgoutputPlugin {
  override parse(buffer: Buffer) {
    const msg = super.parse(buffer);
    if (msg.tag === 'relation') for (const c of msg.columns) c.parser = (raw: unknown) => raw;
    return msg;
  }
}

const keyOf = (r: { schema: string; name: string }) => tableKey({ schema: r.schema, name: r.name });

function toEvent(lsn: string, m: ReturnType<PgoutputPlugin['parse']>): ChangeEvent | undefined {
  switch (m.tag) {
    case 'begin':
      return { kind: 'begin', lsn, commitLsn: m.commitLsn! };
    case 'commit':
      return { kind: 'commit', lsn, endLsn: m.commitEndLsn! };
    case 'relation':
      return { kind: 'relation', lsn, table: keyOf(m), columns: m.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeMod: c.typeMod })), replicaIdentity: m.replicaIdentity };
    case 'insert':
      return { kind: 'insert', lsn, table: keyOf(m.relation), new: asTuple(m.new)! };
    case 'update':
      return { kind: 'update', lsn, table: keyOf(m.relation), old: asTuple(m.old ?? m.key), new: asTuple(m.new)! };
    case 'delete':
      return { kind: 'delete', lsn, table: keyOf(m.relation), old: asTuple(m.old ?? m.key)! };
    case 'truncate':
      return { kind: 'truncate', lsn, tables: m.relations.map(keyOf) };
    default:
      return undefined;
  }
}

/**
 * The replication connection. Its startup options pin the settings pg2ch
 * pins in every session (core/pg-session.ts): pgoutput's text values are
 * the types' output functions, which DateStyle, TimeZone, IntervalStyle,
 * extra_float_digits and bytea_output change, and core/change-values.ts
 * renders exactly that text. Nothing is confirmed automatically: only
 * confirm(), after the checkpoint.
 */
async function openStream(cfg: PostgresConfig, names: StreamNames, startLsn: string | null, onEvent: (e: ChangeEvent) => Promise<void>): Promise<OpenStream> {
  const service = new LogicalReplicationService(
    { connectionString: cfg.url, options: sessionOptions(), application_name: `pg2ch ${names.slot}` } as ConstructorParameters<typeof LogicalReplicationService>[0],
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  let failure: unknown;
  let confirmed: string | undefined;
  let serverLsn: string | undefined;
  let stopping = false;
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});
  const stopWith = (e: unknown) => {
    if (failure !== undefined || stopping) return;
    failure = e;
    fail(e);
    void service.stop().catch(() => {});
  };
  // The library carries on with the next message when a handler throws: the
  // first failure stops the stream, and later messages are ignored.
  service.on('data', async (lsn: string, msg: ReturnType<PgoutputPlugin['parse']>) => {
    if (failure !== undefined || stopping) return;
    const e = toEvent(lsn, msg);
    if (!e) return;
    try {
      await onEvent(e);
    } catch (err) {
      stopWith(err);
    }
  });
  service.on('error', (e: Error) => stopWith(e));
  // Keepalives asking for an answer get the last confirmed position, never more.
  service.on('heartbeat', (lsn: string, _ts: number, respond: boolean) => {
    // The server sends a commit's changes before its keepalives pass it, but the
    // library queues changes and emits keepalives at once: a position counts as
    // read only when no change before it waits in that queue.
    const lib = service as unknown as { _messageQueue?: unknown[]; _processing?: boolean };
    if ((lib._messageQueue?.length ?? 0) === 0 && !lib._processing) serverLsn = lsn;
    if (respond && confirmed) void sendConfirm(confirmed);
  });
  // The library reports lsn + 1 as flushed (the next byte expected), so it
  // is told lsn - 1: confirmed_flush_lsn then equals the checkpoint exactly.
  const sendConfirm = (lsn: string) => service.acknowledge(formatLsn(parseLsn(lsn) - 1n));
  const running = service.subscribe(new TextPgoutput({ protoVersion: 1, publicationNames: [names.publication] }), names.slot, startLsn ?? '0/0');
  const done = Promise.race([running.then(() => undefined), failed]).then(() => {
    if (failure !== undefined) throw failure;
  });
  done.catch(() => {});
  return {
    done,
    confirm(lsn: string) {
      if (parseLsn(lsn) === 0n) return;
      confirmed = lsn;
      void sendConfirm(lsn);
    },
    serverLsn: () => serverLsn,
    async stop() {
      stopping = true;
      await service.stop().catch(() => {});
    },
  };
}

export function postgresCdcSource(pg: Pool, cfg: PostgresConfig): CdcSource {
  return {
    async prepare(names, tables) {
      await checkPrerequisites(pg, names, tables);
      await ensurePublication(pg, names.publication, tables);
      return { created: await ensureSlot(pg, names.slot) };
    },
    open: (names, startLsn, onEvent) => openStream(cfg, names, startLsn, onEvent),
    async drop(names) {
      const active = await pg.query<{ pid: number | null }>(`SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1`, [names.slot]);
      if (active.rows[0]?.pid) {
        throw fix(`slot ${names.slot} is in use by a running stream (PostgreSQL process ${active.rows[0].pid}): run pg2ch cdc stop first`);
      }
      const slot = active.rowCount! > 0;
      if (slot) await pg.query(`SELECT pg_drop_replication_slot($1)`, [names.slot]);
      const pub = await pg.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [names.publication]);
      if (pub.rowCount! > 0) await pg.query(`DROP PUBLICATION ${pgIdent(names.publication)}`);
      return { slot, publication: pub.rowCount! > 0 };
    },
  };
}

export interface SlotStatus {
  slot: string;
  active: boolean;
  confirmedLsn: string | null;
  /** Bytes of WAL the slot keeps from being removed. */
  retainedBytes: string;
}

export async function slotStatus(pg: Pool, slot: string): Promise<SlotStatus | null> {
  const r = await pg.query<{ active: boolean; confirmed: string | null; retained: string | null }>(
    `SELECT active, confirmed_flush_lsn::text AS confirmed,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = r.rows[0];
  return row ? { slot, active: row.active, confirmedLsn: row.confirmed, retainedBytes: row.retained ?? '0' } : null;
}


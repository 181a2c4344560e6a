// The PostgreSQL side of pg2ch, one interface per source role (as PeerDB's
// flow/connectors/core.go separates its CDC and copy connectors):
// - the chunked-copy source (watermark modes) is activities/postgres.ts:
//   introspection, chunk bounds, COPY of a cursor range;
// - the CDC source (mode cdc) is here: the publication and slot, and the
//   replication connection whose pgoutput changes a stream reads.
import type { RowChange } from '../core/cdc';
import type { SourceTable } from '../core/table-name';

/** Everything a stream reads from the replication connection, in WAL order. */
export type ChangeEvent =
  /** commitLsn: where the transaction's commit record begins. */
  | { kind: 'begin'; lsn: string; commitLsn: string }
  | RowChange
  | { kind: 'relation'; lsn: string; table: string; columns: Array<{ name: string; typeOid: number; typeMod: number }>; replicaIdentity: string }
  | { kind: 'truncate'; lsn: string; tables: string[] }
  /** endLsn: where the transaction's commit record ends, the position a checkpoint records. */
  | { kind: 'commit'; lsn: string; endLsn: string };

export interface StreamNames {
  slot: string;
  publication: string;
}

export interface OpenStream {
  /** Resolves when the connection ends after stop(); rejects on a replication error. */
  done: Promise<void>;
  /** Tells PostgreSQL everything up to `lsn` is written: the slot may release that WAL. */
  confirm(lsn: string): void;
  /** The server's position from its last keepalive (idle periods advance the slot to it). */
  serverLsn(): string | undefined;
  stop(): Promise<void>;
}

/** The CDC source role. */
export interface CdcSource {
  /** Checks settings and privileges, creates the publication and the slot when missing; `created`: the slot is new. */
  prepare(names: StreamNames, tables: SourceTable[]): Promise<{ created: boolean }>;
  /** Streams changes after `startLsn` (the checkpoint) to `onEvent`, one at a time (the next waits for the handler). */
  open(names: StreamNames, startLsn: string | null, onEvent: (e: ChangeEvent) => Promise<void>): Promise<OpenStream>;
  /** Removes the slot and the publication. */
  drop(names: StreamNames): Promise<{ slot: boolean; publication: boolean }>;
}

import type { ClickHouseClient } from '@clickhouse/client';
import type { Pool } from 'pg';
import type { ClickHouseCapabilities } from '../core/clickhouse-version';
import type { CopyStrategySetting, PostgresConfig } from '../core/config';
import type { SyncMetrics } from './metrics';

/** A connected ClickHouse, server or embedded engine: only the factory differs. */
export interface ClickHouseTarget {
  client: ClickHouseClient;
  kind: 'server' | 'embedded';
  database: string;
  cluster?: string;
  caps: ClickHouseCapabilities;
  /** The server's user, for remote() reads of each cluster host's system tables (never logged). */
  remoteAuth?: { user: string; password: string };
  /**
   * The embedded engine's zero-copy insert of one Buffer: one INSERT, parsed
   * by the engine's own multithreaded parser. Absent for servers.
   */
  rawInsert?: (params: {
    table: string;
    columns: string[];
    values: Buffer;
    settings: Record<string, string>;
    signal?: AbortSignal;
  }) => Promise<void>;
}

/** Everything the activities touch, injected so tests and the CLI wire the same code. */
export interface ActivityDeps {
  pg: Pool;
  /** Where the embedded engine connects for the pull strategy (the worker's own PG_URL). */
  pgSource: PostgresConfig;
  copyStrategy: CopyStrategySetting;
  clickhouse: ClickHouseTarget;
  /** Values scrubbed from every error message that leaves an activity. */
  secrets: string[];
  /** Fault injection for crash tests only: runs after a chunk is in ClickHouse, before the activity returns. */
  afterInsert?: () => void;
  /** Where the activities' metrics go (PG2CH_METRICS_ADDRESS); none by default. */
  metrics?: SyncMetrics;
}

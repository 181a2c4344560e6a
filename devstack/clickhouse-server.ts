import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { freePorts, waitFor } from './free-port';
import { spawnService, stopProcess } from './processes';

export const CLICKHOUSE_SERVER_BIN = process.env.CLICKHOUSE_SERVER_BIN ?? '/usr/sbin/clickhouse-server';

export interface LocalClickHouse {
  /** http://user:password@127.0.0.1:port, the form CLICKHOUSE_URL takes. */
  url: string;
  httpPort: number;
  tcpPort: number;
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL: a crash, not a shutdown; restart() brings it back. */
  kill(): Promise<void>;
}

/** max_memory_usage of the test-only user <user>_low_memory. */
export const LOW_MEMORY_BYTES = 40_000_000;

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A private ClickHouse server (the Debian package's binary) on free ports with
 * its own data directory and a password-protected user: tests never touch a
 * system instance.
 */
export interface ServerOptions {
  dir: string;
  user: string;
  password: string;
  /** Ports chosen by the caller (a cluster's config names every member's ports before any starts). */
  ports?: { http: number; tcp: number; interserver?: number };
  /** More top-level config elements (zookeeper, remote_servers, macros, distributed_ddl). */
  extraConfig?: string;
}

export async function startClickHouseServer(opts: ServerOptions): Promise<LocalClickHouse> {
  if (!existsSync(CLICKHOUSE_SERVER_BIN)) {
    throw new Error(`${CLICKHOUSE_SERVER_BIN} not found: install clickhouse-server (apt-get install clickhouse-server) or set CLICKHOUSE_SERVER_BIN`);
  }
  mkdirSync(opts.dir, { recursive: true });
  const [httpPort, tcpPort] = opts.ports ? [opts.ports.http, opts.ports.tcp] : ((await freePorts(2)) as [number, number]);
  // Replicas fetch parts from each other over the interserver HTTP port.
  const interserver = opts.ports?.interserver
    ? `\n  <interserver_http_port>${opts.ports.interserver}</interserver_http_port>\n  <interserver_http_host>127.0.0.1</interserver_http_host>`
    : '';
  const d = (sub: string) => join(opts.dir, sub) + '/';
  writeFileSync(
    join(opts.dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>8000000000</max_memory_usage></default>
    <!-- Tests only: small queries pass, a big chunk's insert hits the memory limit (241). -->
    <low_memory><max_memory_usage>${LOW_MEMORY_BYTES}</max_memory_usage></low_memory>
  </profiles>
  <users>
    <${opts.user}><password>${xmlEscape(opts.password)}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></${opts.user}>
    <${opts.user}_low_memory><password>${xmlEscape(opts.password)}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>low_memory</profile><quota>default</quota></${opts.user}_low_memory>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
  );
  writeFileSync(
    join(opts.dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${d('log')}server.log</log><errorlog>${d('log')}server.err.log</errorlog><console>0</console></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>${interserver}
  <listen_host>127.0.0.1</listen_host>
  <path>${d('data')}</path>
  <tmp_path>${d('tmp')}</tmp_path>
  <user_files_path>${d('user_files')}</user_files_path>
  <format_schema_path>${d('format_schemas')}</format_schema_path>
  <users_config>${join(opts.dir, 'users.xml')}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>1073741824</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
${opts.extraConfig ?? ''}
</yandex>
`,
  );
  const url = `http://${opts.user}:${encodeURIComponent(opts.password)}@127.0.0.1:${httpPort}`;
  let child: ReturnType<typeof spawnService> | undefined;
  const start = async () => {
    child = spawnService(CLICKHOUSE_SERVER_BIN, [`--config-file=${join(opts.dir, 'config.xml')}`], join(opts.dir, 'stdout.log'));
    const client = createClient({
      url: `http://127.0.0.1:${httpPort}`,
      username: opts.user,
      password: opts.password,
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      await waitFor(`ClickHouse server on ${httpPort}`, 60_000, async () => {
        if (child?.exitCode !== null) throw new Error(`clickhouse-server exited; see ${opts.dir}/log`);
        const r = await client.ping();
        if (!r.success) throw r.error;
      });
    } finally {
      await client.close();
    }
  };
  await start();
  return {
    url,
    httpPort,
    tcpPort,
    /** Stops the server, keeps it down for downMs (a real outage), and starts it again on the same ports and data. */
    async restart(downMs = 0) {
      await stopProcess(child);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    stop: () => stopProcess(child, 20_000),
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { freePorts, waitFor } from './free-port';
import { spawnService, stopProcess } from './processes';
import { startClickHouseServer, type LocalClickHouse } from './clickhouse-server';

/** Debian's zookeeper package: the jar and its dependencies (its manifest's class path), started without systemd. */
export const ZOOKEEPER_CLASSPATH = process.env.ZOOKEEPER_CLASSPATH ?? '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar';
const JAVA = process.env.JAVA ?? '/usr/bin/java';

export interface LocalZooKeeper {
  port: number;
  stop(): Promise<void>;
}

/**
 * ZooKeeper's four-letter "srvr" names its mode once it serves clients
 * ("ruok" says imok earlier, while sessions are still refused: a
 * clickhouse-server whose first ZooKeeper handshake fails that way crashes
 * on its first ON CLUSTER query).
 */
function serving(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    sock.on('connect', () => sock.write('srvr'));
    sock.on('data', (d) => (answer += d.toString()));
    sock.on('error', reject);
    sock.on('close', () => (/Mode: /.test(answer) ? resolve() : reject(new Error(`answered ${JSON.stringify(answer.slice(0, 100))}`))));
  });
}

/** A standalone ZooKeeper on a free port with its own data directory (no admin server, no JMX). */
export async function startZooKeeper(dir: string): Promise<LocalZooKeeper> {
  const jar = ZOOKEEPER_CLASSPATH.split(':').find((p) => p.endsWith('.jar'));
  if (!existsSync(JAVA) || (jar && !existsSync(jar))) {
    throw new Error(`ZooKeeper not found (${jar}, ${JAVA}): install it (apt-get install zookeeper) or set ZOOKEEPER_CLASSPATH and JAVA`);
  }
  mkdirSync(join(dir, 'data'), { recursive: true });
  const [port] = (await freePorts(1)) as [number];
  const child = spawnService(
    JAVA,
    [
      '-Xmx256m',
      '-Dzookeeper.admin.enableServer=false',
      '-Dzookeeper.4lw.commands.whitelist=srvr',
      '-cp',
      ZOOKEEPER_CLASSPATH,
      'org.apache.zookeeper.server.ZooKeeperServerMain',
      String(port),
      join(dir, 'data'),
    ],
    join(dir, 'zookeeper.log'),
  );
  try {
    await waitFor(`ZooKeeper on ${port}`, 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`zookeeper exited; see ${dir}/zookeeper.log`);
      await serving(port);
    });
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
  return { port, stop: () => stopProcess(child) };
}

async function zooKeeperAnswers(srv: LocalClickHouse, auth: { user: string; password: string }): Promise<void> {
  const client = createClient({ url: `http://127.0.0.1:${srv.httpPort}`, username: auth.user, password: auth.password, log: { level: ClickHouseLogLevel.OFF } });
  try {
    await client.command({ query: "SELECT count() FROM system.zookeeper WHERE path = '/'" });
  } finally {
    await client.close();
  }
}

export interface LocalCluster {
  name: string;
  zookeeper: LocalZooKeeper;
  /** servers[shard][replica] */
  servers: LocalClickHouse[][];
  /** Every server, shard by shard. */
  all: LocalClickHouse[];
  stop(): Promise<void>;
}

/**
 * A real ClickHouse cluster: one ZooKeeper and shards x replicas
 * clickhouse-server processes with their own config, ports and data, named
 * `name` in every server's remote_servers, with {shard} and {replica} macros
 * and distributed DDL. Replicas of a shard fetch parts from each other.
 */
export async function startClickHouseCluster(opts: { dir: string; user: string; password: string; name?: string; shards?: number; replicas?: number }): Promise<LocalCluster> {
  const name = opts.name ?? 'default';
  const shards = opts.shards ?? 1;
  const replicas = opts.replicas ?? 2;
  const zookeeper = await startZooKeeper(join(opts.dir, 'zookeeper'));
  const ports = await freePorts(3 * shards * replicas);
  const at = (s: number, r: number) => {
    const i = 3 * (s * replicas + r);
    return { http: ports[i]!, tcp: ports[i + 1]!, interserver: ports[i + 2]! };
  };
  const remote = Array.from({ length: shards }, (_, s) =>
    `<shard><internal_replication>true</internal_replication>${Array.from({ length: replicas }, (_, r) =>
      `<replica><host>127.0.0.1</host><port>${at(s, r).tcp}</port><user>${opts.user}</user><password>${opts.password}</password></replica>`).join('')}</shard>`).join('');
  const servers: LocalClickHouse[][] = [];
  const stopAll = async () => {
    await Promise.allSettled(servers.flat().map((c) => c.stop()));
    await zookeeper.stop();
  };
  try {
    for (let s = 0; s < shards; s++) {
      servers.push(
        await Promise.all(
          Array.from({ length: replicas }, (_, r) =>
            startClickHouseServer({
              dir: join(opts.dir, `s${s + 1}r${r + 1}`),
              user: opts.user,
              password: opts.password,
              ports: at(s, r),
              extraConfig: `  <zookeeper><node><host>127.0.0.1</host><port>${zookeeper.port}</port></node></zookeeper>
  <remote_servers><${name}>${remote}</${name}></remote_servers>
  <macros><shard>${s + 1}</shard><replica>s${s + 1}r${r + 1}</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>`,
            }),
          ),
        ),
      );
    }
    // Each server's own ZooKeeper session works before the first test sends DDL.
    await Promise.all(servers.flat().map((srv) => waitFor(`ZooKeeper session of ClickHouse on ${srv.httpPort}`, 60_000, () => zooKeeperAnswers(srv, opts))));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { name, zookeeper, servers, all: servers.flat(), stop: stopAll };
}

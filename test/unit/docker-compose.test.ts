import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readWorkerConfig } from '../../core/config';

// No Docker engine runs here, so the compose file is checked for consistency:
// every service the app needs, wired with matching hosts, ports and credentials.
const root = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));

describe('docker-compose.yml', () => {
  const svc = compose.services;
  const workerEnv: Record<string, string> = svc['pg2ch-worker'].environment;

  it('has every service the app needs, the worker depending on all healthy', () => {
    for (const name of ['postgres', 'clickhouse', 'temporal', 'pg2ch-worker']) expect(svc[name], name).toBeDefined();
    for (const dep of ['postgres', 'clickhouse', 'temporal']) {
      expect(svc[dep].healthcheck, dep).toBeDefined();
      expect(svc['pg2ch-worker'].depends_on[dep]).toEqual({ condition: 'service_healthy' });
    }
    expect(svc['pg2ch-worker'].build).toBe('.');
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
  });

  it('gives the worker a valid configuration that points at the compose services', () => {
    const cfg = readWorkerConfig(workerEnv);
    expect(cfg.postgres).toMatchObject({ host: 'postgres', port: 5432, user: svc.postgres.environment.POSTGRES_USER });
    expect(cfg.postgres.password).toBe(svc.postgres.environment.POSTGRES_PASSWORD);
    expect(cfg.postgres.database).toBe(svc.postgres.environment.POSTGRES_DB);
    expect(cfg.clickhouse).toMatchObject({ kind: 'server', url: 'http://clickhouse:8123', username: svc.clickhouse.environment.CLICKHOUSE_USER });
    expect(cfg.clickhouse.kind === 'server' && cfg.clickhouse.password).toBe(svc.clickhouse.environment.CLICKHOUSE_PASSWORD);
    expect(cfg.temporal.address).toBe('temporal:7233');
  });

  it('publishes the ports the app and the Web UI use', () => {
    expect(svc.postgres.ports).toContain('5432:5432');
    expect(svc.clickhouse.ports).toContain('8123:8123');
    expect(svc.temporal.ports).toEqual(expect.arrayContaining(['7233:7233', '8233:8233']));
    expect(svc.temporal.command).toEqual(expect.arrayContaining(['start-dev', '--ip', '0.0.0.0']));
  });

  it('seeds activity_logs in PostgreSQL on first start', () => {
    const mount = svc.postgres.volumes.find((v: string) => v.includes('docker-entrypoint-initdb.d'));
    const file = join(root, mount.split(':')[0]);
    expect(readFileSync(file, 'utf8')).toMatch(/CREATE TABLE IF NOT EXISTS activity_logs[\s\S]*INSERT INTO activity_logs/);
  });
});

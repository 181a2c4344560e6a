import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../core/clickhouse-version';
import { ConfigError, readClickHouseConfig, readPostgresConfig } from '../../core/config';
import { classify } from '../../core/errors';
import { mapColumn } from '../../core/type-map';

// Bugs found by reviewing core/; each case failed before its fix.
describe('core regressions', () => {
  it('a malformed %-escape in a URL is a ConfigError naming the variable, without the password', () => {
    expect(() => readPostgresConfig({ PG_URL: 'postgres://u:p%zz@h/db' })).toThrow(ConfigError);
    expect(() => readPostgresConfig({ PG_URL: 'postgres://u:p%zz@h/db' })).toThrow(/^PG_URL has a malformed %-escape in its password/);
    expect(() => readPostgresConfig({ PG_URL: 'postgres://u:pw@h/%zz' })).toThrow(/^PG_URL has a malformed %-escape in its database/);
    expect(() => readClickHouseConfig({ CLICKHOUSE_URL: 'http://bob:s3%zzt@ch.example:8123' })).toThrow(
      /^CLICKHOUSE_URL has a malformed %-escape in its password/,
    );
    try {
      readClickHouseConfig({ CLICKHOUSE_URL: 'http://bob:s3%zzt@ch.example:8123' });
    } catch (e) {
      expect((e as Error).message).not.toContain('s3%zzt');
    }
  });

  it('a secret straddling the 500-character cut is redacted whole', () => {
    const m = classify(new Error('x'.repeat(495) + 'supersecret'), ['supersecret']).message;
    expect(m).not.toMatch(/super/);
    const u = classify(new Error('x'.repeat(480) + ' postgres://u:longpassword@h/db')).message;
    expect(u).not.toMatch(/longpa/);
  });

  it('reads the message of plain-object errors', () => {
    expect(classify({ code: '28P01', message: 'password authentication failed' })).toEqual({
      retryable: false,
      type: 'PostgresAuth',
      message: 'PostgreSQL rejected the credentials in PG_URL: password authentication failed',
    });
    const guard = classify({ code: '22P02', message: 'invalid input syntax for type integer: "pg2ch out of range: column \\"d\\" value x"' });
    expect(guard.type).toBe('OutOfRange');
  });

  it.each(['EPERM', 'EBUSY', 'EROFS', 'ENXIO', 'EBADF', 'E2BIG'])('errno code %s is not read as a SQLSTATE', (code) => {
    expect(classify(Object.assign(new Error('x'), { code })).type).not.toMatch(/^Postgres/);
  });

  it('Date32 before 22.8 is guarded to 1925-2283', () => {
    const col = { name: 'd', type: 'date', typname: 'date', typtype: 'b', notNull: true };
    expect(mapColumn(col, capabilitiesFor('21.9.1')).select).toContain(`< '1925-01-01' OR "d"::date >= '2283-11-12'`);
    expect(mapColumn(col, capabilitiesFor('22.8.1')).select).toContain(`< '1900-01-01' OR "d"::date >= '2300-01-01'`);
  });

  it('numeric(50,2) is a String where the server has no Decimal256', () => {
    const col = { name: 'n', type: 'numeric(50,2)', typname: 'numeric', typtype: 'b', notNull: true };
    expect(mapColumn(col, capabilitiesFor('18.16.1')).chType).toBe('String');
    expect(mapColumn(col, capabilitiesFor('24.8.1')).chType).toBe('Decimal(50, 2)');
  });
});

import { describe, expect, it } from 'vitest';
import { PIN_IF_PRESENT_SQL, PINNED_SETTINGS, pullBlocker, sessionOptions } from '../../core/pg-session';

describe('pinned PostgreSQL session settings', () => {
  it('pins every output-affecting setting and the timeouts that could cut a COPY', () => {
    const names = PINNED_SETTINGS.map(([n]) => n);
    for (const n of ['DateStyle', 'TimeZone', 'IntervalStyle', 'extra_float_digits', 'bytea_output', 'client_encoding', 'standard_conforming_strings',
      'quote_all_identifiers', 'xmloption', 'xmlbinary', 'lc_monetary', 'search_path', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout']) {
      expect(names).toContain(n);
    }
    // Newer settings are never startup options: PostgreSQL 12-16 refuse an unknown one.
    expect(names).not.toContain('transaction_timeout');
    expect(names).not.toContain('idle_session_timeout');
    expect(PIN_IF_PRESENT_SQL).toContain(`('transaction_timeout', '0')`);
    expect(PIN_IF_PRESENT_SQL).toContain('FROM pg_settings');
  });

  it('escapes spaces and backslashes as PostgreSQL splits the options string', () => {
    expect(sessionOptions([['default_transaction_isolation', 'read committed', ''], ['x', 'a\\b', '']])).toBe(
      '-c default_transaction_isolation=read\\ committed -c x=a\\\\b',
    );
    expect(sessionOptions()).toContain('-c bytea_output=hex');
    expect(sessionOptions()).toContain('-c statement_timeout=0');
  });
});

describe('pullBlocker: defaults that would reach the embedded engine', () => {
  const safe = { DateStyle: 'ISO, MDY', client_encoding: 'UTF8', standard_conforming_strings: 'on', statement_timeout: '0', idle_in_transaction_session_timeout: '0' };

  it('none with PostgreSQL defaults, with or without transaction_timeout (PostgreSQL 17+)', () => {
    expect(pullBlocker(safe)).toBeUndefined();
    expect(pullBlocker({ ...safe, transaction_timeout: '0' })).toBeUndefined();
  });

  it.each([
    ['DateStyle', 'SQL, DMY'],
    ['client_encoding', 'LATIN1'],
    ['standard_conforming_strings', 'off'],
    ['statement_timeout', '1s'],
    ['idle_in_transaction_session_timeout', '100ms'],
    ['transaction_timeout', '5s'],
  ])('names %s = %s', (name, value) => {
    expect(pullBlocker({ ...safe, [name]: value })).toBe(`the role's or database's default ${name} = ${value} would reach the embedded engine's own PostgreSQL connection`);
  });
});

import { describe, expect, it } from 'vitest';
import { parseTableName, pgTableRef, tableKey } from '../../core/table-name';

describe('parseTableName', () => {
  it('puts a bare name in public', () => {
    expect(parseTableName('users')).toEqual({ schema: 'public', name: 'users' });
  });

  it('splits schema.table at the dot', () => {
    expect(parseTableName('a.b')).toEqual({ schema: 'a', name: 'b' });
  });

  it('keeps an explicit public schema', () => {
    expect(parseTableName('public.users')).toEqual({ schema: 'public', name: 'users' });
  });

  it('keeps case as written (no folding)', () => {
    expect(parseTableName('Sales.Orders')).toEqual({ schema: 'Sales', name: 'Orders' });
  });

  it('keeps a dot inside a double-quoted name', () => {
    expect(parseTableName('"my.table"')).toEqual({ schema: 'public', name: 'my.table' });
  });

  it('splits a quoted schema from a quoted name', () => {
    expect(parseTableName('"my.schema"."my.table"')).toEqual({ schema: 'my.schema', name: 'my.table' });
  });

  it('mixes quoted and unquoted parts', () => {
    expect(parseTableName('sales."order.items"')).toEqual({ schema: 'sales', name: 'order.items' });
    expect(parseTableName('"sales.eu".orders')).toEqual({ schema: 'sales.eu', name: 'orders' });
  });

  it('turns a doubled quote inside quotes into one quote', () => {
    expect(parseTableName('"we""ird"')).toEqual({ schema: 'public', name: 'we"ird' });
  });

  it('handles a name that is only an escaped quote', () => {
    expect(parseTableName('""""')).toEqual({ schema: 'public', name: '"' });
  });

  it('handles doubled quotes in both parts', () => {
    expect(parseTableName('"s""1"."t""2"')).toEqual({ schema: 's"1', name: 't"2' });
  });

  it('keeps unicode, spaces and semicolons', () => {
    expect(parseTableName('"données ; x".表')).toEqual({ schema: 'données ; x', name: '表' });
  });

  it('keeps backslashes and backticks', () => {
    expect(parseTableName('a\\b.`c`')).toEqual({ schema: 'a\\b', name: '`c`' });
  });

  it('rejects three parts', () => {
    expect(() => parseTableName('a.b.c')).toThrowError(
      new Error('table name "a.b.c" is not of the form table or schema.table'),
    );
  });

  it('rejects three parts even when some are quoted', () => {
    expect(() => parseTableName('a."b"."c"')).toThrow('table name "a.\\"b\\".\\"c\\"" is not of the form table or schema.table');
  });

  it.each(['', '.', 'a.', '.b', '""', '"".t', 's.""', 'a..b'])('rejects empty parts in %j', (input) => {
    expect(() => parseTableName(input)).toThrowError(
      new Error(`table name ${JSON.stringify(input)} is not of the form table or schema.table`),
    );
  });

  it('rejects an unclosed double quote', () => {
    expect(() => parseTableName('"my.table')).toThrowError(
      new Error('table name "\\"my.table" has an unclosed double quote'),
    );
  });

  it('rejects a quote left open by a trailing doubled quote', () => {
    expect(() => parseTableName('"a""')).toThrow(/has an unclosed double quote$/);
  });

  it('rejects a lone quote', () => {
    expect(() => parseTableName('"')).toThrow('table name "\\"" has an unclosed double quote');
  });
});

describe('pgTableRef', () => {
  it('quotes schema and table', () => {
    expect(pgTableRef({ schema: 'public', name: 'users' })).toBe('"public"."users"');
  });

  it('keeps a dot inside the quoted table name', () => {
    expect(pgTableRef({ schema: 'public', name: 'my.table' })).toBe('"public"."my.table"');
  });

  it('doubles quotes in both parts', () => {
    expect(pgTableRef({ schema: 's"x', name: 'we"ird' })).toBe('"s""x"."we""ird"');
  });

  it('round-trips a parsed quoted name', () => {
    expect(pgTableRef(parseTableName('"we""ird"'))).toBe('"public"."we""ird"');
  });

  it('throws on a NUL byte', () => {
    expect(() => pgTableRef({ schema: 'public', name: 'a\0' })).toThrow(
      'identifiers and literals cannot contain NUL bytes',
    );
  });
});

describe('tableKey', () => {
  it('is the bare name for public', () => {
    expect(tableKey({ schema: 'public', name: 'users' })).toBe('users');
  });

  it('is schema.table for other schemas', () => {
    expect(tableKey({ schema: 'sales', name: 'orders' })).toBe('sales.orders');
  });

  it('treats Public (different case) as a different schema', () => {
    expect(tableKey({ schema: 'Public', name: 'users' })).toBe('Public.users');
  });

  it('double-quotes a name holding a dot', () => {
    expect(tableKey(parseTableName('"my.table"'))).toBe('"my.table"');
  });

  it('double-quotes a name holding a quote, doubling the quote', () => {
    expect(tableKey(parseTableName('"we""ird"'))).toBe('"we""ird"');
  });

  it('quotes only the part that needs it', () => {
    expect(tableKey({ schema: 'sales.eu', name: 'orders' })).toBe('"sales.eu".orders');
    expect(tableKey({ schema: 'sales', name: 'order.items' })).toBe('sales."order.items"');
    expect(tableKey({ schema: 's"x', name: 'a.b' })).toBe('"s""x"."a.b"');
  });

  it('keeps a table public.x apart from a table "public.x" in public', () => {
    expect(tableKey({ schema: 'sales', name: 'orders' })).not.toBe(tableKey({ schema: 'public', name: 'sales.orders' }));
    expect(tableKey({ schema: 'public', name: 'sales.orders' })).toBe('"sales.orders"');
  });

  it('leaves spaces, semicolons, backticks and unicode unquoted', () => {
    expect(tableKey({ schema: 'données', name: 'a b;`c`' })).toBe('données.a b;`c`');
  });

  it.each([
    { schema: 'public', name: 'users' },
    { schema: 'sales', name: 'orders' },
    { schema: 'public', name: 'my.table' },
    { schema: 'public', name: 'we"ird' },
    { schema: 'a.b', name: 'c.d' },
    { schema: 's"1', name: 't"2' },
    { schema: 'x', name: '"' },
    { schema: 'public', name: '.' },
    { schema: 'Public', name: 'Users' },
    { schema: 'public', name: 'a b ; 表' },
  ])('parseTableName(tableKey(t)) gives back %j', (t) => {
    expect(parseTableName(tableKey(t))).toStrictEqual(t);
  });

  it('is the name for a parsed bare name', () => {
    expect(tableKey(parseTableName('events'))).toBe('events');
  });
});

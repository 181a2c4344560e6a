import { describe, expect, it } from 'vitest';
import { chIdent, chQualified, chString, intLiteral, pgIdent, pgString, postgresqlQuotesExactly } from '../../core/quote';

const NUL_MESSAGE = 'identifiers and literals cannot contain NUL bytes';

describe('pgIdent', () => {
  it('wraps a plain name in double quotes', () => {
    expect(pgIdent('users')).toBe('"users"');
  });

  it('keeps case as written', () => {
    expect(pgIdent('MixedCase')).toBe('"MixedCase"');
  });

  it('quotes the empty string', () => {
    expect(pgIdent('')).toBe('""');
  });

  it('doubles an embedded double quote', () => {
    expect(pgIdent('we"ird')).toBe('"we""ird"');
  });

  it('doubles every embedded double quote, including leading and trailing ones', () => {
    expect(pgIdent('"a""b"')).toBe('"""a""""b"""');
  });

  it('leaves single quotes, backticks and backslashes alone', () => {
    expect(pgIdent("it's `x` \\n")).toBe('"it\'s `x` \\n"');
  });

  it('keeps a semicolon and SQL inside the quotes', () => {
    expect(pgIdent('x"; DROP TABLE users; --')).toBe('"x""; DROP TABLE users; --"');
  });

  it('keeps dots inside the identifier', () => {
    expect(pgIdent('my.table')).toBe('"my.table"');
  });

  it('passes unicode through unchanged', () => {
    expect(pgIdent('таблица_日本_🚀')).toBe('"таблица_日本_🚀"');
  });

  it('passes whitespace and newlines through', () => {
    expect(pgIdent(' a\nb\t')).toBe('" a\nb\t"');
  });

  it('throws on a NUL byte', () => {
    expect(() => pgIdent('a\0b')).toThrow(NUL_MESSAGE);
  });

  it('throws on a NUL byte at the end', () => {
    expect(() => pgIdent('ab\0')).toThrowError(new Error(NUL_MESSAGE));
  });
});

describe('pgString', () => {
  it('wraps a plain value in single quotes', () => {
    expect(pgString('hello')).toBe("'hello'");
  });

  it('quotes the empty string', () => {
    expect(pgString('')).toBe("''");
  });

  it('doubles an embedded single quote', () => {
    expect(pgString("O'Brien")).toBe("'O''Brien'");
  });

  it('doubles several single quotes', () => {
    expect(pgString("''")).toBe("''''''");
  });

  it('does not escape backslashes (standard_conforming_strings)', () => {
    expect(pgString('C:\\temp\\')).toBe("'C:\\temp\\'");
  });

  it('leaves double quotes and backticks alone', () => {
    expect(pgString('say "hi" `now`')).toBe('\'say "hi" `now`\'');
  });

  it('keeps an injection attempt inside the literal', () => {
    expect(pgString("x'; DROP TABLE t; --")).toBe("'x''; DROP TABLE t; --'");
  });

  it('passes unicode through unchanged', () => {
    expect(pgString('naïve ☃')).toBe("'naïve ☃'");
  });

  it('throws on a NUL byte', () => {
    expect(() => pgString('a\0')).toThrow(NUL_MESSAGE);
  });
});

describe('chIdent', () => {
  it('wraps a plain name in backticks', () => {
    expect(chIdent('events')).toBe('`events`');
  });

  it('quotes the empty string', () => {
    expect(chIdent('')).toBe('``');
  });

  it('escapes an embedded backtick with a backslash', () => {
    expect(chIdent('a`b')).toBe('`a\\`b`');
  });

  it('escapes a backslash by doubling it', () => {
    expect(chIdent('a\\b')).toBe('`a\\\\b`');
  });

  it('escapes the backslash before the backtick so they do not combine', () => {
    // name is: backslash, backtick
    expect(chIdent('\\`')).toBe('`\\\\\\``');
  });

  it('a trailing backslash cannot escape the closing backtick', () => {
    expect(chIdent('x\\')).toBe('`x\\\\`');
  });

  it('leaves double and single quotes alone', () => {
    expect(chIdent(`we"ird'name`)).toBe('`we"ird\'name`');
  });

  it('keeps a semicolon inside the identifier', () => {
    expect(chIdent('t`; DROP TABLE x; --')).toBe('`t\\`; DROP TABLE x; --`');
  });

  it('keeps dots inside the identifier', () => {
    expect(chIdent('public.users')).toBe('`public.users`');
  });

  it('passes unicode through unchanged', () => {
    expect(chIdent('événements_日本')).toBe('`événements_日本`');
  });

  it('throws on a NUL byte', () => {
    expect(() => chIdent('\0')).toThrow(NUL_MESSAGE);
  });
});

describe('chString', () => {
  it('wraps a plain value in single quotes', () => {
    expect(chString('abc')).toBe("'abc'");
  });

  it('quotes the empty string', () => {
    expect(chString('')).toBe("''");
  });

  it('escapes a single quote with a backslash', () => {
    expect(chString("it's")).toBe("'it\\'s'");
  });

  it('doubles a backslash', () => {
    expect(chString('a\\b')).toBe("'a\\\\b'");
  });

  it('escapes backslash before quote so a trailing backslash cannot eat the closing quote', () => {
    expect(chString("\\'")).toBe("'\\\\\\''");
    expect(chString('x\\')).toBe("'x\\\\'");
  });

  it('escapes a NUL byte as \\0 instead of throwing', () => {
    expect(chString('a\0b')).toBe("'a\\0b'");
  });

  it('leaves backticks and double quotes alone', () => {
    expect(chString('`x` "y"')).toBe('\'`x` "y"\'');
  });

  it('builds a ZooKeeper-style path literal with braces untouched', () => {
    expect(chString('/clickhouse/tables/{shard}/db/t')).toBe("'/clickhouse/tables/{shard}/db/t'");
  });

  it('passes unicode through unchanged', () => {
    expect(chString('ümlaut ✓')).toBe("'ümlaut ✓'");
  });
});

describe('chQualified', () => {
  it('joins two quoted identifiers with a dot', () => {
    expect(chQualified('analytics', 'events')).toBe('`analytics`.`events`');
  });

  it('quotes each part separately so a dot in the table name stays in the name', () => {
    expect(chQualified('analytics', 'public.users')).toBe('`analytics`.`public.users`');
  });

  it('escapes backticks in both parts', () => {
    expect(chQualified('d`b', 't`b')).toBe('`d\\`b`.`t\\`b`');
  });

  it('throws on a NUL byte in the database', () => {
    expect(() => chQualified('a\0', 't')).toThrow(NUL_MESSAGE);
  });

  it('throws on a NUL byte in the table', () => {
    expect(() => chQualified('a', 't\0')).toThrow(NUL_MESSAGE);
  });
});

describe('intLiteral', () => {
  it.each(['0', '1', '42', '-1', '-9223372036854775808', '9223372036854775807', '18446744073709551615'])(
    'accepts %s unchanged',
    (v) => {
      expect(intLiteral(v)).toBe(v);
    },
  );

  it('accepts 20 digits', () => {
    expect(intLiteral('12345678901234567890')).toBe('12345678901234567890');
  });

  it('rejects 21 digits', () => {
    expect(() => intLiteral('123456789012345678901')).toThrow('not an integer literal: "123456789012345678901"');
  });

  it.each([
    ['', 'not an integer literal: ""'],
    ['1.5', 'not an integer literal: "1.5"'],
    ['1e3', 'not an integer literal: "1e3"'],
    ['+1', 'not an integer literal: "+1"'],
    [' 1', 'not an integer literal: " 1"'],
    ['1 ', 'not an integer literal: "1 "'],
    ['abc', 'not an integer literal: "abc"'],
    ['1; DROP TABLE t', 'not an integer literal: "1; DROP TABLE t"'],
    ['--1', 'not an integer literal: "--1"'],
    ['-', 'not an integer literal: "-"'],
    ['0x10', 'not an integer literal: "0x10"'],
    ['1\n', 'not an integer literal: "1\\n"'],
  ])('rejects %j', (v, message) => {
    expect(() => intLiteral(v)).toThrowError(new Error(message));
  });

  it('rejects unicode digits', () => {
    expect(() => intLiteral('١٢٣')).toThrow(/^not an integer literal: /);
  });
});

describe('postgresqlQuotesExactly', () => {
  // Checked against the embedded engine (chdb 26.7) pulling such columns and tables.
  it.each(['id', 'Ab', 'a b', "a'b", 'a`b', 'é', 'a.b', 'select', 'a$b', 'a{b}', '🎉'])('%j is written exactly', (name) => {
    expect(postgresqlQuotesExactly(name)).toBe(true);
  });

  it.each(['a"b', 'a\\b', 'a\tb', 'a\nb', 'a\rb', 'a\x7fb', 'a\x01b'])('%j is not', (name) => {
    expect(postgresqlQuotesExactly(name)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { classify, EmptyHttpAnswer, RANGE_ERROR_MARK, redact, UserError } from '../../core/errors';

/** An Error carrying a `code`, the shape pg and @clickhouse/client throw. */
function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('UserError', () => {
  it('defaults its type and name to UserError', () => {
    const e = new UserError('table has no integer key');
    expect(e).toBeInstanceOf(Error);
    expect(e.type).toBe('UserError');
    expect(e.name).toBe('UserError');
    expect(e.message).toBe('table has no integer key');
  });

  it('takes a custom type, which is also its name', () => {
    const e = new UserError('bad column', 'UnsupportedType');
    expect(e.type).toBe('UnsupportedType');
    expect(e.name).toBe('UnsupportedType');
    expect(String(e)).toBe('UnsupportedType: bad column');
  });
});

describe('classify: UserError', () => {
  it('is non-retryable with its default type', () => {
    expect(classify(new UserError('table "x" has no primary key'))).toStrictEqual({
      retryable: false,
      type: 'UserError',
      message: 'table "x" has no primary key',
    });
  });

  it('keeps a custom type', () => {
    expect(classify(new UserError('column "doc" has type tsvector', 'UnsupportedType'))).toStrictEqual({
      retryable: false,
      type: 'UnsupportedType',
      message: 'column "doc" has type tsvector',
    });
  });

  it('wins over a code that would otherwise look retryable', () => {
    const e = Object.assign(new UserError('nope', 'Custom'), { code: 'ECONNREFUSED' });
    expect(classify(e)).toStrictEqual({ retryable: false, type: 'Custom', message: 'nope' });
  });

  it('redacts secrets from its message', () => {
    expect(classify(new UserError('cannot use hunter2 here'), ['hunter2']).message).toBe('cannot use *** here');
  });
});

describe('classify: PostgreSQL SQLSTATE', () => {
  it('28P01 (invalid password) is non-retryable PostgresAuth', () => {
    const c = classify({ code: '28P01', message: 'password authentication failed for user "pg2ch"' });
    expect(c.retryable).toBe(false);
    expect(c.type).toBe('PostgresAuth');
    expect(c.message).toMatch(/^PostgreSQL rejected the credentials in PG_URL: /);
  });

  it('28P01 message names PG_URL and carries the server message', () => {
    expect(classify(codedError('28P01', 'password authentication failed for user "pg2ch"'))).toStrictEqual({
      retryable: false,
      type: 'PostgresAuth',
      message: 'PostgreSQL rejected the credentials in PG_URL: password authentication failed for user "pg2ch"',
    });
  });

  it('28000 (invalid authorization) is PostgresAuth too', () => {
    expect(classify(codedError('28000', 'no pg_hba.conf entry'))).toMatchObject({ retryable: false, type: 'PostgresAuth' });
  });

  it('57P01 (admin shutdown) is retryable PostgresTransient', () => {
    expect(classify({ code: '57P01', message: 'terminating connection due to administrator command' })).toMatchObject({
      retryable: true,
      type: 'PostgresTransient',
    });
    expect(classify(codedError('57P01', 'terminating connection due to administrator command'))).toStrictEqual({
      retryable: true,
      type: 'PostgresTransient',
      message: 'PostgreSQL 57P01: terminating connection due to administrator command',
    });
  });

  it.each(['57P02', '57P03', '08006', '08001', '08000', '53300', '53100', '40001', '40P01', '55P03', '55006'])(
    '%s is retryable PostgresTransient',
    (code) => {
      expect(classify(codedError(code, 'boom'))).toStrictEqual({
        retryable: true,
        type: 'PostgresTransient',
        message: `PostgreSQL ${code}: boom`,
      });
    },
  );

  it('08006 as a plain object is retryable', () => {
    expect(classify({ code: '08006', message: 'connection failure' })).toMatchObject({ retryable: true, type: 'PostgresTransient' });
  });

  it('57P04 (not in the transient list) falls through to retryable PostgresError', () => {
    expect(classify(codedError('57P04', 'database dropped'))).toStrictEqual({
      retryable: true,
      type: 'PostgresError',
      message: 'PostgreSQL 57P04: database dropped',
    });
  });

  it('42P01 (undefined table) is non-retryable PostgresMissingObject', () => {
    expect(classify({ code: '42P01', message: 'relation "nope" does not exist' })).toMatchObject({
      retryable: false,
      type: 'PostgresMissingObject',
    });
    expect(classify(codedError('42P01', 'relation "nope" does not exist'))).toStrictEqual({
      retryable: false,
      type: 'PostgresMissingObject',
      message: 'PostgreSQL: relation "nope" does not exist',
    });
  });

  it.each(['42703', '3F000'])('%s is non-retryable PostgresMissingObject', (code) => {
    expect(classify(codedError(code, 'missing'))).toStrictEqual({
      retryable: false,
      type: 'PostgresMissingObject',
      message: 'PostgreSQL: missing',
    });
  });

  it('3D000 (invalid catalog name) is PostgresConfig pointing at PG_URL', () => {
    expect(classify(codedError('3D000', 'database "nope" does not exist'))).toStrictEqual({
      retryable: false,
      type: 'PostgresConfig',
      message: 'PostgreSQL: database "nope" does not exist; check the database in PG_URL',
    });
  });

  it.each(['42501', '42601', '42883'])('%s (other class 42) is non-retryable PostgresPermission', (code) => {
    expect(classify(codedError(code, 'denied'))).toStrictEqual({
      retryable: false,
      type: 'PostgresPermission',
      message: `PostgreSQL ${code}: denied`,
    });
  });

  it.each(['22003', '22P02', '23505', 'XX000', 'XX001'])('%s is non-retryable PostgresData', (code) => {
    expect(classify(codedError(code, 'bad value'))).toStrictEqual({
      retryable: false,
      type: 'PostgresData',
      message: `PostgreSQL ${code}: bad value`,
    });
  });

  it.each(['P0001', '0A000', '25P02'])('%s (unknown class) retries as PostgresError', (code) => {
    expect(classify(codedError(code, 'x'))).toStrictEqual({ retryable: true, type: 'PostgresError', message: `PostgreSQL ${code}: x` });
  });

  it('ignores a lowercase code (not a SQLSTATE)', () => {
    expect(classify(codedError('28p01', 'something'))).toStrictEqual({ retryable: true, type: 'UnknownError', message: 'something' });
  });

  it('redacts the password inside the PostgreSQL message', () => {
    const c = classify(codedError('28P01', 'password "hunter2" rejected'), ['hunter2']);
    expect(c.message).toBe('PostgreSQL rejected the credentials in PG_URL: password "***" rejected');
  });
});

describe('classify: range guard (OutOfRange)', () => {
  const detail =
    'column "created_at" value 2200-01-01 is outside what ClickHouse Date holds [1970-01-01, 2149-06-07); see "Out-of-range values" in the README';
  // What PostgreSQL reports when the guard's message fails its cast to int.
  const pgMessage = `invalid input syntax for type integer: "${RANGE_ERROR_MARK}${detail}"`;

  it('22P02 carrying the mark is non-retryable OutOfRange with just the detail', () => {
    expect(classify(codedError('22P02', pgMessage))).toStrictEqual({ retryable: false, type: 'OutOfRange', message: detail });
  });

  it('uses only the first line', () => {
    expect(classify(codedError('22P02', `${pgMessage}\nCONTEXT: COPY t, line 1`))).toStrictEqual({
      retryable: false,
      type: 'OutOfRange',
      message: detail,
    });
  });

  it('an ordinary 22P02 stays PostgresData', () => {
    expect(classify(codedError('22P02', 'invalid input syntax for type integer: "abc"'))).toStrictEqual({
      retryable: false,
      type: 'PostgresData',
      message: 'PostgreSQL 22P02: invalid input syntax for type integer: "abc"',
    });
  });

  it('the mark under another SQLSTATE is not OutOfRange', () => {
    expect(classify(codedError('22003', pgMessage))).toStrictEqual({
      retryable: false,
      type: 'PostgresData',
      message: `PostgreSQL 22003: ${pgMessage}`,
    });
  });

  it('the mark without a SQLSTATE is not OutOfRange', () => {
    expect(classify(new Error(pgMessage)).type).toBe('UnknownError');
  });
});

describe('classify: network errors', () => {
  it('ECONNREFUSED as a plain object is retryable NetworkError', () => {
    expect(classify({ code: 'ECONNREFUSED' })).toMatchObject({ retryable: true, type: 'NetworkError' });
  });

  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'ECONNABORTED',
    'ESOCKETTIMEDOUT',
    'UND_ERR_SOCKET',
    'ERR_STREAM_PREMATURE_CLOSE',
  ])('%s is retryable NetworkError', (code) => {
    expect(classify(codedError(code, `connect ${code} 127.0.0.1:5432`))).toStrictEqual({
      retryable: true,
      type: 'NetworkError',
      message: `connect ${code} 127.0.0.1:5432`,
    });
  });

  it('EPIPE is network, not a SQLSTATE although it has five capitals', () => {
    expect(classify(codedError('EPIPE', 'write EPIPE')).type).toBe('NetworkError');
  });

  it.each([
    'socket hang up',
    'Timeout error.',
    'Query read timeout',
    'network is unreachable',
    'read ECONNRESET',
    'fetch failed',
    'other side closed',
    'Connection terminated unexpectedly',
  ])('a code-less error saying %j is a retryable NetworkError', (message) => {
    expect(classify(new Error(message))).toStrictEqual({ retryable: true, type: 'NetworkError', message });
  });
});

describe('classify: ClickHouse', () => {
  it('numeric string code 60 (unknown table) is non-retryable ClickHouseError', () => {
    expect(classify({ code: '60', message: "Table analytics.nope doesn't exist" })).toMatchObject({
      retryable: false,
      type: 'ClickHouseError',
    });
    expect(classify(codedError('60', "Table analytics.nope doesn't exist"))).toStrictEqual({
      retryable: false,
      type: 'ClickHouseError',
      message: "ClickHouse: Table analytics.nope doesn't exist",
    });
  });

  it.each(['192', '193', '194', '195', '516'])('numeric code %s is non-retryable ClickHouseAuth', (code) => {
    expect(classify(codedError(code, 'Authentication failed'))).toStrictEqual({
      retryable: false,
      type: 'ClickHouseAuth',
      message: 'ClickHouse rejected the credentials in CLICKHOUSE_URL: Authentication failed',
    });
  });

  it('old-server "Code: 193" message is non-retryable ClickHouseAuth', () => {
    const msg = 'Code: 193, e.displayText() = DB::Exception: Wrong password for user pg2ch';
    expect(classify({ message: msg })).toMatchObject({ retryable: false, type: 'ClickHouseAuth' });
    expect(classify(new Error(msg))).toStrictEqual({
      retryable: false,
      type: 'ClickHouseAuth',
      message: `ClickHouse rejected the credentials in CLICKHOUSE_URL: ${msg}`,
    });
  });

  it('"Code: 252" (too many parts) is retryable ClickHouseTransient', () => {
    const msg = 'Code: 252, e.displayText() = DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts';
    expect(classify({ message: msg })).toMatchObject({ retryable: true, type: 'ClickHouseTransient' });
    expect(classify(new Error(msg))).toStrictEqual({ retryable: true, type: 'ClickHouseTransient', message: `ClickHouse: ${msg}` });
  });

  it.each([1, 3, 32, 159, 202, 203, 209, 210, 225, 236, 242, 252, 279, 285, 319, 394, 425, 439, 614, 999, 1000, 1001])(
    'code %d is retryable ClickHouseTransient',
    (code) => {
      expect(classify(codedError(String(code), 'x'))).toStrictEqual({ retryable: true, type: 'ClickHouseTransient', message: 'ClickHouse: x' });
      expect(classify(new Error(`Code: ${code}. DB::Exception: x`))).toMatchObject({ retryable: true, type: 'ClickHouseTransient' });
    },
  );

  it.each([27, 53, 62, 81, 117, 164, 497])('code %d is non-retryable ClickHouseError', (code) => {
    expect(classify(new Error(`Code: ${code}. DB::Exception: bad`))).toStrictEqual({
      retryable: false,
      type: 'ClickHouseError',
      message: `ClickHouse: Code: ${code}. DB::Exception: bad`,
    });
  });

  it('does not read "Code: 1930" as 193', () => {
    expect(classify(new Error('Code: 1930. whatever')).type).toBe('ClickHouseTransient'); // unknown codes retry; 193 would be ClickHouseAuth
  });

  it('a numeric string code wins over a Code: in the message', () => {
    expect(classify(codedError('252', 'Code: 193. Wrong password')).type).toBe('ClickHouseTransient');
  });

  it('a numeric (not string) code is read from the message instead', () => {
    const e = Object.assign(new Error('Code: 252. Too many parts'), { code: 60 });
    expect(classify(e).type).toBe('ClickHouseTransient');
  });

  it('redacts the password from a ClickHouse auth error', () => {
    const c = classify(new Error('Code: 516. DB::Exception: pg2ch: Authentication failed: password s3cr3tCH is incorrect'), ['s3cr3tCH']);
    expect(c.message).toBe(
      'ClickHouse rejected the credentials in CLICKHOUSE_URL: Code: 516. DB::Exception: pg2ch: Authentication failed: password *** is incorrect',
    );
    expect(c.message).not.toContain('s3cr3tCH');
  });
});

describe('classify: the embedded engine reading PostgreSQL (postgresql())', () => {
  // As the engine throws them (code 1001), captured from chdb 26.7 pulling columns named a"b and a\b.
  const syntax = codedError(
    '1001',
    'pqxx::syntax_error: ERROR:  syntax error at or near "" FROM ""\nLINE 1: COPY (SELECT "id", "a\\"b" FROM "public"."t" WHERE ("id...\n                                ^\n. ',
  );
  const undefinedColumn = codedError(
    '1001',
    'pqxx::undefined_column: ERROR:  column "a\\\\b" does not exist\nLINE 1: COPY (SELECT "id", "a\\\\b" FROM "public"."t" WHERE ("id...\nHINT:  Perhaps you meant to reference the column "t.a\\b".\n. ',
  );

  it('a syntax error is non-retryable PostgresPull, with PostgreSQL\'s reason and the way around', () => {
    expect(classify(syntax)).toStrictEqual({
      retryable: false,
      type: 'PostgresPull',
      message: `PostgreSQL refused the embedded engine's postgresql() query (syntax_error): syntax error at or near "" FROM ""; PG2CH_COPY_STRATEGY=push copies the table without postgresql()`,
    });
  });

  it.each([
    ['undefined_column', undefinedColumn],
    ['undefined_table', codedError('1001', 'pqxx::undefined_table: ERROR:  relation "public.t\\\\b" does not exist\nLINE 1: ...')],
    ['insufficient_privilege', codedError('1001', 'pqxx::insufficient_privilege: ERROR:  permission denied for table t\n. ')],
  ])('%s is non-retryable and names the reason', (kind, err) => {
    const c = classify(err);
    expect(c.retryable).toBe(false);
    expect(c.type).toBe('PostgresPull');
    expect(c.message).toContain(`(${kind}): `);
    expect(c.message).not.toContain('ERROR:');
  });

  it('a broken connection or a rollback still retries', () => {
    for (const m of ['pqxx::broken_connection: Lost connection to the database server.', 'pqxx::deadlock_detected: ERROR:  deadlock detected']) {
      expect(classify(codedError('1001', m)).retryable).toBe(true);
    }
  });
});

describe('classify: HTTP answers without a body', () => {
  it('400 is non-retryable and names the status and the likely cause', () => {
    expect(classify(new EmptyHttpAnswer(400))).toStrictEqual({
      retryable: false,
      type: 'ClickHouseHttp',
      message:
        "ClickHouse answered HTTP 400 with an empty body: the request was refused before any SQL was read: its URL or headers may exceed the server's limit (16 kB on 18.16), or a proxy in front of ClickHouse refused it",
    });
  });

  it.each([404, 413])('%i is non-retryable', (status) => {
    expect(classify(new EmptyHttpAnswer(status))).toMatchObject({ retryable: false, type: 'ClickHouseHttp', message: expect.stringMatching(`^ClickHouse answered HTTP ${status} with an empty body: `) });
  });

  it.each([502, 503, 408, 429])('%i retries', (status) => {
    expect(classify(new EmptyHttpAnswer(status))).toMatchObject({ retryable: true, type: 'ClickHouseHttp' });
  });

  it('an error with no message at all is not shown as an empty reason', () => {
    expect(classify(new Error('')).message).toBe('Error without a message');
  });
});

describe('classify: other values', () => {
  it('an unknown Error retries as UnknownError', () => {
    expect(classify(new Error('something odd'))).toStrictEqual({ retryable: true, type: 'UnknownError', message: 'something odd' });
  });

  it('a thrown string is used as the message', () => {
    expect(classify('plain string failure')).toStrictEqual({ retryable: true, type: 'UnknownError', message: 'plain string failure' });
  });

  it('a thrown string mentioning a timeout is a NetworkError', () => {
    expect(classify('statement timeout')).toStrictEqual({ retryable: true, type: 'NetworkError', message: 'statement timeout' });
  });

  it.each([
    [null, 'null'],
    [undefined, 'undefined'],
    [42, '42'],
  ])('copes with %j', (value, message) => {
    expect(classify(value)).toStrictEqual({ retryable: true, type: 'UnknownError', message });
  });
});

describe('classify: message shaping', () => {
  it('keeps only the first line of a multi-line message', () => {
    const e = new Error('first line here\n    at foo (bar.ts:1:1)\n    at baz (qux.ts:2:2)');
    expect(classify(e).message).toBe('first line here');
  });

  it('keeps only the first line inside the typed prefix', () => {
    const e = codedError('42P01', 'relation "x" does not exist\nLINE 1: SELECT * FROM x\n              ^');
    expect(classify(e).message).toBe('PostgreSQL: relation "x" does not exist');
  });

  it('skips leading blank lines', () => {
    expect(classify(new Error('\n   \nreal message\nmore')).message).toBe('real message');
  });

  it('reads the ClickHouse code from a later line but reports only the first', () => {
    const c = classify(new Error('Insert failed\nCode: 193. DB::Exception: Wrong password'));
    expect(c).toStrictEqual({
      retryable: false,
      type: 'ClickHouseAuth',
      message: 'ClickHouse rejected the credentials in CLICKHOUSE_URL: Insert failed',
    });
  });

  it('a secret on a later line never reaches the message', () => {
    const c = classify(new Error('connect failed\npassword=hunter2'));
    expect(c.message).toBe('connect failed');
  });

  it('truncates a very long first line to 500 characters plus an ellipsis', () => {
    const c = classify(new Error('a'.repeat(600)));
    expect(c.message).toBe('a'.repeat(500) + '…');
  });

  it('does not truncate exactly 500 characters', () => {
    expect(classify(new Error('b'.repeat(500))).message).toBe('b'.repeat(500));
  });

  it('redacts given secrets', () => {
    expect(classify(new Error('login as admin with hunter2 failed'), ['hunter2']).message).toBe('login as admin with *** failed');
  });

  it('redacts a password in any URL even with no secrets given', () => {
    const c = classify(new Error('could not connect to postgres://pg2ch:topsecret@db:5432/app'));
    expect(c.message).toBe('could not connect to postgres://pg2ch:***@db:5432/app');
    expect(c.message).not.toContain('topsecret');
  });
});

describe('redact', () => {
  it('returns the text unchanged when there is nothing to hide', () => {
    expect(redact('all good', [])).toBe('all good');
    expect(redact('all good', ['absent'])).toBe('all good');
  });

  it('replaces every occurrence of a secret', () => {
    expect(redact('hunter2 and hunter2 again', ['hunter2'])).toBe('*** and *** again');
  });

  it('replaces several secrets', () => {
    expect(redact('pw1=alpha99 pw2=bravo77', ['alpha99', 'bravo77'])).toBe('pw1=*** pw2=***');
  });

  it('also replaces the URL-encoded form of a secret', () => {
    expect(redact('url has p%40ss%2Fw0rd and raw p@ss/w0rd', ['p@ss/w0rd'])).toBe('url has *** and raw ***');
  });

  it('replaces the encoded form even outside a URL', () => {
    expect(redact('token=a%20b%20c', ['a b c'])).toBe('token=***');
  });

  it('treats secrets literally, not as regular expressions', () => {
    expect(redact('x.*y and xzzy', ['x.*y'])).toBe('*** and xzzy');
    expect(redact('cost $1 (a+b)', ['$1 (a+b)'])).toBe('cost ***');
  });

  it('skips empty secrets', () => {
    expect(redact('abc', ['', 'b'])).toBe('a***c');
  });

  it('removes a whole secret URL given as a secret', () => {
    expect(redact('PG_URL=postgres://u:pw123@h/db', ['postgres://u:pw123@h/db'])).toBe('PG_URL=***');
  });

  it.each([
    ['postgres://u:pw@h/db', 'postgres://u:***@h/db'],
    ['postgresql://user:p%40ss@db.example:5432/app', 'postgresql://user:***@db.example:5432/app'],
    ['http://default:chpass@localhost:8123', 'http://default:***@localhost:8123'],
    ['HTTPS://Admin:Secret@CH.example', 'HTTPS://Admin:***@CH.example'],
    ['redis://:onlypass@cache:6379', 'redis://:***@cache:6379'],
    ['git+ssh://git:tok@host/repo', 'git+ssh://git:***@host/repo'],
  ])('hides the password in %s', (input, expected) => {
    expect(redact(input, [])).toBe(expected);
  });

  it('hides passwords in several URLs in one text', () => {
    expect(redact('from postgres://a:one@h1/db to http://b:two@h2:8123 failed', [])).toBe(
      'from postgres://a:***@h1/db to http://b:***@h2:8123 failed',
    );
  });

  it('leaves a URL without a password alone', () => {
    expect(redact('postgres://u@h/db', [])).toBe('postgres://u@h/db');
  });

  it('does not mistake a port for a password', () => {
    expect(redact('http://localhost:8123/ping', [])).toBe('http://localhost:8123/ping');
    expect(redact('see http://h:8123/x@y', [])).toBe('see http://h:8123/x@y');
  });

  it('does not reach across whitespace', () => {
    expect(redact('http://h:80 mail me@example.com', [])).toBe('http://h:80 mail me@example.com');
  });

  it('hides a password given as a secret even outside a URL and inside one', () => {
    expect(redact('password is pw123 in postgres://u:pw123@h/db', ['pw123'])).toBe('password is *** in postgres://u:***@h/db');
  });
});

describe('conditions no retry fixes: cancelled statements, memory and server limits', () => {
  it('57014 from a statement timeout is non-retryable, naming statement_timeout and what to do', () => {
    const c = classify(codedError('57014', 'canceling statement due to statement timeout'));
    expect(c).toMatchObject({ retryable: false, type: 'PostgresCancelled' });
    expect(c.message).toMatch(/^PostgreSQL 57014: canceling statement due to statement timeout; a statement_timeout pg2ch could not override .*remove the limit for the role/);
  });

  it("the embedded engine's postgresql() read cut by a statement timeout is the same condition, not a ClickHouse transient", () => {
    const msg = "Code: 1001. DB::Exception: pqxx::sql_error: Failure during '[END COPY]': ERROR:  canceling statement due to statement timeout";
    expect(classify(new Error(msg))).toMatchObject({ retryable: false, type: 'PostgresCancelled', message: expect.stringMatching(/statement_timeout pg2ch could not override/) });
  });

  it('57014 from an administrator cancel is non-retryable and says so', () => {
    const c = classify({ code: '57014', message: 'canceling statement due to user request' });
    expect(c).toMatchObject({ retryable: false, type: 'PostgresCancelled' });
    expect(c.message).toMatch(/user request; an administrator cancelled it \(pg_cancel_backend\)/);
  });

  it('53400 (temp_file_limit and other configured limits) is non-retryable, naming the fix', () => {
    const c = classify(codedError('53400', 'temporary file size exceeds temp_file_limit (1024kB)'));
    expect(c).toMatchObject({ retryable: false, type: 'PostgresLimit' });
    expect(c.message).toMatch(/temp_file_limit \(1024kB\); .*lower chunkRows \(--chunk-rows\)/);
  });

  it('ClickHouse 241 for a query is non-retryable, naming the limit and the fix', () => {
    const msg = 'Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.32 GiB (attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB. (MEMORY_LIMIT_EXCEEDED)';
    const c = classify(new Error(msg));
    expect(c).toMatchObject({ retryable: false, type: 'ClickHouseMemoryLimit' });
    expect(c.message).toBe(`ClickHouse ran out of memory for one chunk: ${msg}; lower chunkRows in the config file (or --chunk-rows), or raise the limit it names (max_memory_usage for a query) for the ClickHouse user pg2ch connects as`);
    // The client's own error carries the code as a string.
    expect(classify(codedError('241', 'Memory limit (for user) exceeded'))).toMatchObject({ retryable: false, type: 'ClickHouseMemoryLimit' });
  });

  it("ClickHouse 241 for the whole server (other queries' memory) stays retryable, with the fix if it persists", () => {
    const c = classify(new Error('Code: 241. DB::Exception: Memory limit (total) exceeded: would use 3.5 GiB, maximum: 3.4 GiB'));
    expect(c).toMatchObject({ retryable: true, type: 'ClickHouseTransient' });
    expect(c.message).toMatch(/; if this persists, lower chunkRows/);
  });
});

/**
 * Errors from PostgreSQL, ClickHouse and the network are sorted into those a
 * retry can fix (a server restarting, a dropped connection) and those it
 * cannot (wrong password, missing table, a value the column cannot hold).
 * The latter fail the workflow at once with a message a user can act on.
 */
export interface Classified {
  retryable: boolean;
  /** Stable name shown in the Web UI and matched by nonRetryableErrorTypes. */
  type: string;
  message: string;
}

/** Thrown by pg2ch itself for a problem no retry can fix. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly type = 'UserError',
  ) {
    super(message);
    this.name = type;
  }
}

/**
 * An HTTP error from ClickHouse (or a proxy before it) whose body says
 * nothing: the message names the status and its likely cause. 4xx but 408
 * and 429 are refusals no retry changes; 5xx, 408 and 429 retry.
 */
export class EmptyHttpAnswer extends Error {
  constructor(readonly status: number | undefined) {
    super(`ClickHouse answered HTTP ${status ?? '(no status)'} with an empty body: ${emptyAnswerCause(status)}`);
    this.name = 'EmptyHttpAnswer';
  }

  get retryable(): boolean {
    return this.status === undefined || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

function emptyAnswerCause(status: number | undefined): string {
  if (status === 400) {
    return "the request was refused before any SQL was read: its URL or headers may exceed the server's limit (16 kB on 18.16), or a proxy in front of ClickHouse refused it";
  }
  if (status === 401 || status === 403) return 'a proxy in front of ClickHouse refused the request; check its access rules and the credentials in CLICKHOUSE_URL';
  if (status === 404) return "CLICKHOUSE_URL may name a path that is not ClickHouse's HTTP interface";
  if (status === 413 || status === 414 || status === 431) return 'a proxy in front of ClickHouse found the request too large; raise its limit';
  return 'the server or a proxy in front of it failed without saying why; see its log';
}

/** Prefix of the error a range guard in the COPY's SELECT raises (core/type-map.ts). */
export const RANGE_ERROR_MARK = 'pg2ch out of range: ';

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'EAI_AGAIN', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
]);

// ClickHouse error codes no retry can fix: bad SQL or names, values a column
// cannot hold, permissions. Every other code (overload, timeouts, keeper and
// replica trouble, a broken PostgreSQL connection under postgresql()) retries.
const CH_PERMANENT = new Set([
  6, 16, 25, 26, 27, 36, 38, 41, 42, 43, 44, 46, 47, 48, 53, 57, 60, 62, 69, 70, 72, 81, 115, 117, 128, 130, 131, 164, 190, 344, 497,
]);
const CH_AUTH = new Set([192, 193, 194, 195, 516]);

const MEMORY_LIMIT_EXCEEDED = 241;

/**
 * 57014: a statement cancelled. pg2ch's sessions pin statement_timeout = 0,
 * so it is an administrator's pg_cancel_backend or a limit pg2ch could not
 * override (a connection pooler that drops startup options, a timeout set
 * inside a function): repeating the statement at once would meet the same.
 */
function cancelled(message: string): Classified {
  const timeout = /statement timeout/i.test(message);
  const why = timeout
    ? 'a statement_timeout pg2ch could not override (pg2ch sets it to 0 in its own sessions; a connection pooler dropping startup options, or a function setting it, keeps it): remove the limit for the role in PG_URL or connect pg2ch directly'
    : 'an administrator cancelled it (pg_cancel_backend); run the sync again when that is over';
  return { retryable: false, type: 'PostgresCancelled', message: `PostgreSQL 57014: ${message}; ${why}` };
}

/**
 * 241: a query needed more memory than ClickHouse allows it. Inserting the
 * same chunk needs the same memory, so only a limit for the whole server
 * (other queries using it for now) can pass with a retry.
 */
function memoryLimit(message: string): Classified {
  const fix = 'lower chunkRows in the config file (or --chunk-rows), or raise the limit it names (max_memory_usage for a query) for the ClickHouse user pg2ch connects as';
  if (/\(total\)/i.test(message)) return { retryable: true, type: 'ClickHouseTransient', message: `ClickHouse: ${message}; if this persists, ${fix}` };
  return { retryable: false, type: 'ClickHouseMemoryLimit', message: `ClickHouse ran out of memory for one chunk: ${message}; ${fix}` };
}

// PostgreSQL's errors inside the embedded engine's postgresql() arrive as
// libpqxx exceptions (ClickHouse code 1001, otherwise retried). These are the
// query's own faults: bad SQL or names, missing objects, permissions, values.
// Broken connections, rollbacks and exhausted resources still retry.
const PQXX_PERMANENT = new Set([
  'syntax_error', 'undefined_column', 'undefined_table', 'undefined_function', 'insufficient_privilege',
  'feature_not_supported', 'data_exception', 'invalid_sql_statement_name', 'conversion_error', 'argument_error', 'usage_error',
]);

function pgSqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  // No SQLSTATE class starts with E; Node's errno codes (EPERM, EBUSY) all do.
  return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

function clickhouseCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const msg = String((err as { message?: unknown })?.message ?? '');
  const m = /\bCode: (\d+)\b/.exec(msg);
  return m ? Number(m[1]) : undefined;
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    out = out.split(s).join('***');
    const enc = encodeURIComponent(s);
    if (enc !== s) out = out.split(enc).join('***');
  }
  // Credentials inside any URL, known or not.
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s/]*@/gi, '$1:***@');
}

/** First line only: stack traces and server dumps are for logs, not users. */
function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim().length > 0) ?? s;
  return line.length > 500 ? line.slice(0, 500) + '…' : line;
}

/** An error's first line, scrubbed of the secrets and of any URL's password: what may be shown or stored. */
export function scrubbedLine(err: unknown, secrets: readonly string[] = []): string {
  // Redact before cutting, so a secret straddling the cut cannot leak in part.
  return firstLine(redact(messageOf(err), secrets));
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown })?.message;
  return typeof m === 'string' ? m : String(err);
}

export function classify(err: unknown, secrets: readonly string[] = []): Classified {
  const raw = messageOf(err);
  // An empty message would leave a retrying activity with no reason shown.
  const message = scrubbedLine(err, secrets) || `${(err as { name?: unknown })?.name ?? 'error'} without a message`;
  if (err instanceof UserError) return { retryable: false, type: err.type, message };
  if (err instanceof EmptyHttpAnswer) return { retryable: err.retryable, type: 'ClickHouseHttp', message };

  const netCode = (err as { code?: unknown })?.code;
  if (typeof netCode === 'string' && NETWORK_CODES.has(netCode)) {
    return { retryable: true, type: 'NetworkError', message };
  }

  const state = pgSqlState(err);
  // A range guard in the COPY's SELECT (core/type-map.ts) failed on purpose.
  const guard = new RegExp(`"${RANGE_ERROR_MARK}(.*)"$`).exec(message);
  if (state === '22P02' && guard) return { retryable: false, type: 'OutOfRange', message: guard[1]! };
  if (state) {
    const cls = state.slice(0, 2);
    if (state === '57014') return cancelled(message);
    if (state === '53400') {
      return { retryable: false, type: 'PostgresLimit', message: `PostgreSQL ${state}: ${message}; a server limit (such as temp_file_limit) no retry gets under: lower chunkRows (--chunk-rows) or raise the limit` };
    }
    if (cls === '08' || cls === '53' || cls === '40' || cls === '55' || ['57P01', '57P02', '57P03'].includes(state)) {
      return { retryable: true, type: `PostgresTransient`, message: `PostgreSQL ${state}: ${message}` };
    }
    if (cls === '28') {
      return { retryable: false, type: 'PostgresAuth', message: `PostgreSQL rejected the credentials in PG_URL: ${message}` };
    }
    if (state === '3D000') {
      return { retryable: false, type: 'PostgresConfig', message: `PostgreSQL: ${message}; check the database in PG_URL` };
    }
    if (state === '42P01' || state === '42703' || state === '3F000') {
      return { retryable: false, type: 'PostgresMissingObject', message: `PostgreSQL: ${message}` };
    }
    if (cls === '42') return { retryable: false, type: 'PostgresPermission', message: `PostgreSQL ${state}: ${message}` };
    if (cls === '22' || cls === '23' || cls === 'XX') {
      return { retryable: false, type: 'PostgresData', message: `PostgreSQL ${state}: ${message}` };
    }
    return { retryable: true, type: 'PostgresError', message: `PostgreSQL ${state}: ${message}` };
  }

  const pqxx = /\bpqxx::(\w+): (?:(?:ERROR|FATAL):\s+)?(.*)$/.exec(message);
  if (pqxx && PQXX_PERMANENT.has(pqxx[1]!)) {
    return {
      retryable: false,
      type: 'PostgresPull',
      message: `PostgreSQL refused the embedded engine's postgresql() query (${pqxx[1]}): ${pqxx[2]}; PG2CH_COPY_STRATEGY=push copies the table without postgresql()`,
    };
  }

  const ch = clickhouseCode(err);
  if (ch !== undefined) {
    if (CH_AUTH.has(ch)) {
      return { retryable: false, type: 'ClickHouseAuth', message: `ClickHouse rejected the credentials in CLICKHOUSE_URL: ${message}` };
    }
    if (ch === MEMORY_LIMIT_EXCEEDED) return memoryLimit(message);
    // The embedded engine's postgresql() read, cut by the role's statement_timeout.
    if (/canceling statement due to statement timeout/.test(message)) return cancelled(message);
    if (CH_PERMANENT.has(ch)) return { retryable: false, type: 'ClickHouseError', message: `ClickHouse: ${message}` };
    return { retryable: true, type: 'ClickHouseTransient', message: `ClickHouse: ${message}` };
  }

  if (/socket hang up|timeout|Timeout error|network|ECONNRE|fetch failed|other side closed|Connection terminated/i.test(raw)) {
    return { retryable: true, type: 'NetworkError', message };
  }
  // Unknown errors retry with backoff: a transient problem nobody anticipated
  // should heal itself, and a permanent one stays visible in the Web UI.
  return { retryable: true, type: 'UnknownError', message };
}

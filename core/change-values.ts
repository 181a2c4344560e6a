import { UserError } from './errors';
import { outOfRangeMessage } from './type-map';
import type { ColumnPlan, ColumnRender, ValueGuard, ValueRender } from './types';

/**
 * The CDC path's renderer: turns a value as pgoutput sends it (the column
 * type's output text under the session settings core/pg-session.ts pins, or
 * null) into the TabSeparated field the COPY path produces for the same
 * value through the column's `select` expression (core/type-map.ts), so both
 * sources write identical rows. What to do comes from the plan's `render`,
 * which mapColumn builds beside each select: one type map, two renderers,
 * held equal by test/integration/change-values.test.ts on real PostgreSQL.
 *
 * Out-of-range values get the select's outOfRange policy: the same
 * OutOfRange error (fail), the same clamped value, or NULL.
 *
 * null means SQL NULL only: an unchanged TOAST value (pgoutput's 'u') is no
 * value at all, and must be filled by the caller, never passed as null.
 */
export function renderChangeValue(column: ColumnPlan, text: string | null): string {
  const r = column.render;
  if (!r) throw new Error(`column ${JSON.stringify(column.name)} has no CDC rendering in its plan (a plan made before it, or a computed column); plan the table again`);
  if (text === null) return nullField(r);
  if (r.guard && outside(r.guard, text)) {
    if (r.policy === 'null') return nullField(r);
    const clamped = r.policy === 'clamp' ? clampOf(r.guard, text) : undefined;
    if (clamped === undefined) throw outOfRange(column, text);
    return escapeCopyText(clamped);
  }
  return escapeCopyText(renderValue(r.value, text));
}

/** One TabSeparated line (newline included) from a row's values in plan order. */
export function renderChangeRow(columns: readonly ColumnPlan[], values: readonly (string | null)[]): string {
  const fields = new Array<string>(columns.length);
  for (let i = 0; i < columns.length; i++) fields[i] = renderChangeValue(columns[i]!, values[i] ?? null);
  return `${fields.join('\t')}\n`;
}

const NEEDS_ESCAPE = /[\\\t\n\r\b\f\v]/;
const ESCAPED = /[\\\t\n\r\b\f\v]/g;

/** COPY's text format: backslash, and the control characters it escapes (CopyAttributeOutText). */
export function escapeCopyText(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPED, (c) => COPY_ESCAPES[c]!) : text;
}

const COPY_ESCAPES: Record<string, string> = {
  '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v',
};

function nullField(r: ColumnRender): string {
  return r.nullAs ?? '\\N';
}

function outOfRange(column: ColumnPlan, text: string): UserError {
  // The message the select's failing cast carries (core/type-map.ts guarded), with the column's ::text.
  const chType = column.chType.replace(/^Nullable\((.*)\)$/, '$1');
  return new UserError(outOfRangeMessage(column.name, chType, column.guard?.holds ?? '', text), 'OutOfRange');
}

/** The select's rendering of one non-NULL value in range, before COPY escaping. */
export function renderValue(v: ValueRender, text: string): string {
  switch (v.kind) {
    case 'text':
      return text;
    case 'bool':
      return text === 't' ? (v.digit ? '1' : 'true') : v.digit ? '0' : 'false';
    case 'inet':
      return text.includes('/') ? text : `${text}${text.includes(':') ? '/128' : '/32'}`;
    case 'float':
      return renderFloat(v, text);
    case 'timestamp':
      return renderTimestamp(v, text);
    case 'array':
      return renderArray(v, text);
  }
}

function renderFloat(v: Extract<ValueRender, { kind: 'float' }>, text: string): string {
  if (text === 'NaN') return v.nan;
  if (text === 'Infinity') return 'inf';
  if (text === '-Infinity') return '-inf';
  if (!v.old) return text;
  const x = v.single ? Math.fround(Number(text)) : Number(text);
  return oldReaderDigits(x);
}

const SHORT_POWERS = new Set([-70, -50, -30, -10, 30, 50, 70, 90, 110, 130, 150, 170, 190, 210, 230, 250, 270, 290]);

/**
 * type-map.ts oldServerFloatDigits in JavaScript: the 19 significant digits
 * of to_char(x, '9.999999999999999999EEEE') (glibc's correctly rounded %e,
 * ties to even) laid out as that SQL lays them out.
 */
export function oldReaderDigits(x: number): string {
  const sg = x < 0 || Object.is(x, -0) ? '-' : '';
  const [dg, ex] = nineteenDigits(Math.abs(x));
  if (ex >= 18) return `${sg}${SHORT_POWERS.has(ex - 18) ? '0' : ''}${dg}${'0'.repeat(ex - 18)}`;
  if (ex >= 0) return `${sg}${dg.slice(0, ex + 1)}.${dg.slice(ex + 1)}`;
  if (ex >= -306) return `${sg}0.${'0'.repeat(-ex - 1)}${ex === -306 || SHORT_POWERS.has(ex - 18) ? dg.slice(0, 18) : dg}`;
  return `${sg}0.${dg}e${ex + 1}`;
}

/** x >= 0 as 19 significant digits, correctly rounded with ties to even, and its decimal exponent. */
function nineteenDigits(x: number): [string, number] {
  if (x === 0) return ['0'.repeat(19), 0];
  // toExponential rounds ties up; a tie shows as ...5000000 at 25 digits, and is then decided exactly.
  const wide = x.toExponential(24);
  if (wide.slice(20, 26) === '500000') return exactDigits(x);
  const s = x.toExponential(18);
  return [s[0]! + s.slice(2, 20), Number(s.slice(21))];
}

/** The exact decimal expansion of x (> 0) rounded to 19 digits, ties to even. */
function exactDigits(x: number): [string, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mant = biased === 0 ? fraction : fraction | (1n << 52n);
  const e2 = (biased === 0 ? 1 : biased) - 1075;
  // x = mant * 2^e2 = digits * 10^shift exactly.
  const [all, shift] = e2 >= 0 ? [(mant << BigInt(e2)).toString(), 0] : [(mant * 5n ** BigInt(-e2)).toString(), e2];
  const ex = all.length - 1 + shift;
  if (all.length <= 19) return [all.padEnd(19, '0'), ex];
  let head = BigInt(all.slice(0, 19));
  const rest = all.slice(19);
  const half = rest[0]! > '5' || (rest[0] === '5' && /[1-9]/.test(rest.slice(1)));
  const tie = rest[0] === '5' && !half;
  if (half || (tie && head % 2n === 1n)) head += 1n;
  const out = head.toString();
  // 9999999999999999999 rounded up is 10^19: one more digit, one more in the exponent.
  return out.length > 19 ? [out.slice(0, 19), ex + 1] : [out, ex];
}

function renderTimestamp(v: Extract<ValueRender, { kind: 'timestamp' }>, text: string): string {
  let t = v.zone ? withoutUtcOffset(text) : text;
  if (v.seconds) {
    // date_trunc('second'): the fraction goes, an era (' BC') stays.
    const dot = t.indexOf('.');
    if (dot !== -1) {
      const end = t.indexOf(' ', dot);
      t = end === -1 ? t.slice(0, dot) : t.slice(0, dot) + t.slice(end);
    }
  }
  return t;
}

/** timestamptz as the pinned TimeZone=UTC prints it, as `AT TIME ZONE 'UTC'` prints it. */
function withoutUtcOffset(text: string): string {
  if (text.endsWith('+00')) return text.slice(0, -3);
  if (text.endsWith('+00 BC')) return `${text.slice(0, -6)} BC`;
  if (text === 'infinity' || text === '-infinity') return text;
  throw new Error(`timestamptz value ${JSON.stringify(text)} is not in UTC: the replication session must pin TimeZone=UTC (core/pg-session.ts)`);
}

/** PostgreSQL's array text as ClickHouse array text, each element rendered as the select renders it. */
function renderArray(v: Extract<ValueRender, { kind: 'array' }>, text: string): string {
  const els = arrayElements(text, v.delimiter);
  let out = '[';
  for (let i = 0; i < els.length; i++) {
    if (i > 0) out += ',';
    const el = els[i]!;
    if (el === null) out += 'NULL';
    else {
      const t = renderValue(v.element, el);
      out += v.quoted ? `'${t.includes("'") ? t.replace(/'/g, "''") : t}'` : t;
    }
  }
  return `${out}]`;
}

/**
 * The elements of a one-dimensional array's output text (`{a,"b c",NULL}`,
 * `[0:1]={1,2}` when it does not start at 1), unquoted; null for NULL.
 */
export function arrayElements(text: string, delimiter = ','): (string | null)[] {
  let i = text.indexOf('{');
  if (i === -1) throw new Error(`not an array's text: ${JSON.stringify(text.slice(0, 40))}`);
  i++;
  const out: (string | null)[] = [];
  if (text[i] === '}') return out;
  for (;;) {
    let el: string | null;
    if (text[i] === '"') {
      let s = '';
      let start = ++i;
      for (;;) {
        const c = text[i];
        if (c === undefined) throw new Error(`unterminated element in array text ${JSON.stringify(text.slice(0, 40))}`);
        if (c === '\\') {
          s += text.slice(start, i);
          start = ++i;
          i++;
        } else if (c === '"') break;
        else i++;
      }
      el = s + text.slice(start, i);
      i++;
    } else {
      const start = i;
      while (i < text.length && text[i] !== delimiter && text[i] !== '}') i++;
      const raw = text.slice(start, i);
      el = raw === 'NULL' ? null : raw;
    }
    out.push(el);
    if (text[i] === delimiter) i++;
    else return out;
  }
}

/** Whether the column's guard (core/type-map.ts `guard.when`) holds for this output text. */
function outside(g: ValueGuard, text: string): boolean {
  switch (g.kind) {
    case 'range':
      return timeBelow(text, g.from) || !timeBelow(text, g.to);
    case 'nan':
      return text === 'NaN';
    case 'decimal':
      return !fitsDecimal7638(text);
    case 'object':
      return !isJsonObject(text);
    case 'array':
      return multiDimensional(text) || (g.element !== undefined && arrayElements(text).some((e) => e !== null && outside(g.element!, e)));
  }
}

/**
 * Date or timestamp output text below `bound` (a rendered literal): ISO text
 * compares as time in [1000, 9999] AD; BC and -infinity are below any bound,
 * years past 9999 and infinity above.
 */
function timeBelow(text: string, bound: string): boolean {
  if (text === 'infinity') return false;
  if (text === '-infinity' || text.endsWith(' BC')) return true;
  if (text.indexOf('-') > 4) return false;
  const t = text.endsWith('+00') ? text.slice(0, -3) : text;
  return t < bound;
}

/** Decimal(76, 38) holds it: `abs(v) < 1e38 AND v = round(v, 38)`, and not NaN or ±Infinity. */
function fitsDecimal7638(text: string): boolean {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return false;
  const start = text[0] === '-' ? 1 : 0;
  const dot = text.indexOf('.');
  const intDigits = (dot === -1 ? text.length : dot) - start;
  if (intDigits > 38) return false;
  if (dot === -1) return true;
  for (let i = dot + 1 + 38; i < text.length; i++) if (text[i] !== '0') return false;
  return true;
}

function isJsonObject(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') return c === '{';
  }
  return false;
}

/** `{{...` (after any `[l:u][l:u]=` bounds): an array of more than one dimension. */
function multiDimensional(text: string): boolean {
  const i = text.indexOf('{');
  return text[i + 1] === '{';
}

function clampOf(g: ValueGuard, text: string): string | undefined {
  if (g.kind !== 'range' || g.below === undefined || g.above === undefined) return undefined;
  return timeBelow(text, g.from) ? g.below : g.above;
}

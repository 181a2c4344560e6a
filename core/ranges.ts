// Cursor ranges as backfills use them: (afterId, toId], decimal strings, with
// afterId null meaning "from the table's first row". BigInt arithmetic only:
// int8 cursors exceed what a JS number holds exactly.

export interface CursorRange {
  /** Exclusive lower bound; null = no lower bound. */
  afterId: string | null;
  /** Inclusive upper bound. */
  toId: string;
}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** A cursor value as users and workflow inputs give it: an integer an int8 can hold. */
export function isCursorValue(v: string): boolean {
  return /^-?\d{1,19}$/.test(v) && BigInt(v) >= INT8_MIN && BigInt(v) <= INT8_MAX;
}

/** What is wrong with inclusive bounds --from-id/--to-id, or undefined when nothing is. */
export function cursorBoundsError(fromId: string | undefined, toId: string | undefined): string | undefined {
  for (const [name, v] of [['--from-id', fromId], ['--to-id', toId]] as const) {
    if (v !== undefined && !isCursorValue(v)) return `${name} must be an integer cursor value, got ${JSON.stringify(v)}`;
  }
  if (fromId !== undefined && toId !== undefined && BigInt(fromId) > BigInt(toId)) {
    return `--from-id ${fromId} is above --to-id ${toId}; the range is inclusive, from the smaller id to the larger`;
  }
  return undefined;
}

/**
 * The exclusive lower bound of a range that starts at `fromId` inclusive:
 * null when there is none, or when fromId is int8's minimum (nothing is below it).
 */
export function afterIdFor(fromId: string | undefined): string | null {
  if (fromId === undefined || BigInt(fromId) === INT8_MIN) return null;
  return (BigInt(fromId) - 1n).toString();
}

const lower = (r: CursorRange): bigint | null => (r.afterId === null ? null : BigInt(r.afterId));
/** a <= b where null is minus infinity. */
const le = (a: bigint | null, b: bigint | null): boolean => a === null || (b !== null && a <= b);

export function isEmptyRange(r: CursorRange): boolean {
  return r.afterId !== null && BigInt(r.afterId) >= BigInt(r.toId);
}

/** Sorted, with overlapping and touching ranges joined: (1,5] and (5,9] make (1,9]. */
export function mergeRanges(ranges: CursorRange[]): CursorRange[] {
  const sorted = ranges
    .filter((r) => !isEmptyRange(r))
    .sort((a, b) => {
      const la = lower(a);
      const lb = lower(b);
      if (la === lb) return 0;
      if (la === null) return -1;
      if (lb === null) return 1;
      return la < lb ? -1 : 1;
    });
  const out: CursorRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && le(lower(r), BigInt(last.toId))) {
      if (BigInt(r.toId) > BigInt(last.toId)) last.toId = r.toId;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** The parts of `range` no covered range contains, in order. */
export function subtractRanges(range: CursorRange, covered: CursorRange[]): CursorRange[] {
  const out: CursorRange[] = [];
  let from = lower(range);
  const to = BigInt(range.toId);
  for (const c of mergeRanges(covered)) {
    const cl = lower(c);
    const ct = BigInt(c.toId);
    if (from !== null && ct <= from) continue;
    if (cl !== null && cl >= to) break;
    if (cl !== null && !le(cl, from)) out.push({ afterId: from === null ? null : String(from), toId: String(cl) });
    from = ct;
    if (from >= to) return out;
  }
  out.push({ afterId: from === null ? null : String(from), toId: String(to) });
  return out;
}

/**
 * Where a sync at `position` goes next, given ranges a backfill already copied:
 * `jumpTo` when the position is inside one (everything up to it is there),
 * else `stopAt`, the start of the next one, which the next chunk must not pass.
 */
export function nextCovered(position: string | null, covered: CursorRange[]): { jumpTo?: string; stopAt?: string } {
  // Keyset positions (timestamp cursors) never have covered ranges, and are not integers.
  if (covered.length === 0) return {};
  const pos = position === null ? null : BigInt(position);
  for (const c of mergeRanges(covered)) {
    const ct = BigInt(c.toId);
    if (pos !== null && ct <= pos) continue;
    if (le(lower(c), pos)) return { jumpTo: c.toId };
    return { stopAt: c.afterId! };
  }
  return {};
}

export interface Partition extends CursorRange {
  /** Estimated rows, from PostgreSQL's statistics or a count. */
  estimatedRows: number;
}

/**
 * Splits `range` into at most `parts` partitions of about equal rows.
 * `bounds` are the cursor's equi-depth histogram bounds from pg_stats (each
 * bucket holds about the same number of rows); without enough of them the
 * split is by equal cursor spans. `firstId` is the table's smallest cursor
 * value, used when the range has no lower bound. `rows` is the range's
 * estimated row count, shared out by the same weights.
 */
export function splitRange(range: CursorRange, parts: number, opts: { bounds: string[]; firstId: string; rows: number }): Partition[] {
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`partitions must be a whole number of at least 1, got ${parts}`);
  const lo = range.afterId === null ? BigInt(opts.firstId) - 1n : BigInt(range.afterId);
  const hi = BigInt(range.toId);
  if (hi <= lo) return [];
  const span = hi - lo;
  const n = span < BigInt(parts) ? Number(span) : parts;
  const inside = opts.bounds.map((b) => BigInt(b)).filter((b) => b > lo && b < hi).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const cuts: bigint[] = [];
  if (inside.length >= n - 1 && n > 1) {
    // inside.length + 1 buckets of about equal rows between lo and hi.
    const buckets = inside.length + 1;
    for (let i = 1; i < n; i++) cuts.push(inside[Math.round((i * buckets) / n) - 1]!);
  } else {
    for (let i = 1; i < n; i++) cuts.push(lo + (span * BigInt(i)) / BigInt(n));
  }
  const edges = [lo, ...cuts.filter((c, i) => c > lo && c < hi && (i === 0 || c > cuts[i - 1]!)), hi];
  const out: Partition[] = [];
  const count = edges.length - 1;
  let given = 0;
  for (let i = 0; i < count; i++) {
    const estimatedRows = i === count - 1 ? opts.rows - given : Math.round(opts.rows / count);
    given += estimatedRows;
    out.push({
      afterId: i === 0 ? range.afterId : String(edges[i]),
      toId: String(edges[i + 1]),
      estimatedRows: Math.max(0, estimatedRows),
    });
  }
  return out;
}

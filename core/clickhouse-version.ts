/** What the connected ClickHouse can do; decided once from `SELECT version()`. */
export interface ClickHouseCapabilities {
  version: string;
  /** insert_deduplication_token plus non_replicated_deduplication_window (22.2+). */
  dedupToken: boolean;
  /** DateTime64 and Date32 (21.9+ for Date32; DateTime64 from 20.1). */
  dateTime64: boolean;
  date32: boolean;
  /** Native Bool type (21.12+). */
  bool: boolean;
  /** JSONExtract* functions (19.x+); the old server has visitParamExtract* only. */
  jsonExtract: boolean;
  /** Date32 and DateTime64 span 1900-2299 from 22.8; before, 1925-2283. */
  wideDateRange: boolean;
  /** Decimal with precision above 38 (Decimal256) without experimental settings (22.1+). */
  decimal256: boolean;
  /** The JSON column type, without experimental settings (25.3+). */
  jsonType: boolean;
  /** ReplacingMergeTree(version, is_deleted) (23.2+). */
  isDeleted: boolean;
  /**
   * Arrays in TabSeparated are read straight from the escaped field (newer
   * servers), not unescaped first and read again (18.16). Found by a probe
   * at connect time; the version alone does not say.
   */
  arraysReadEscaped: boolean;
  /**
   * Float text is read to the nearest double (fast_float, 21.1+). Older
   * servers' own reader is one bit off for about one value in five of
   * PostgreSQL's shortest text, and reads 5e-324 as 0.
   */
  floatTextExact: boolean;
  /** allow_nullable_key and friends are not needed: we never key on Nullable columns. */
}

export function parseVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(v.trim());
  if (!m) throw new Error(`cannot read the ClickHouse version from ${JSON.stringify(v)}`);
  return [Number(m[1]), Number(m[2])];
}

function atLeast(v: [number, number], major: number, minor: number): boolean {
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

/** Oldest server pg2ch runs against; older ones lack the MergeTree syntax we emit. */
export const MIN_CLICKHOUSE = '18.16';

export function capabilitiesFor(version: string): ClickHouseCapabilities {
  const v = parseVersion(version);
  if (!atLeast(v, 18, 16)) {
    throw new Error(`ClickHouse ${version} is too old: pg2ch needs ${MIN_CLICKHOUSE} or newer`);
  }
  return {
    version,
    dedupToken: atLeast(v, 22, 2),
    dateTime64: atLeast(v, 20, 1),
    date32: atLeast(v, 21, 9),
    bool: atLeast(v, 21, 12),
    jsonExtract: atLeast(v, 19, 15),
    wideDateRange: atLeast(v, 22, 8),
    decimal256: atLeast(v, 22, 1),
    jsonType: atLeast(v, 25, 3),
    isDeleted: atLeast(v, 23, 2),
    arraysReadEscaped: false,
    floatTextExact: atLeast(v, 21, 1),
  };
}

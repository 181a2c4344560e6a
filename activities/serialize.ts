import { Transform, type TransformCallback } from 'node:stream';
import type { ChunkRange, TablePlan } from '../core/types';
import { selectRangeSql } from './postgres';
import { copySelectList } from '../core/copy-version';

/**
 * The serialize stage. PostgreSQL itself renders every value as ClickHouse
 * TabSeparated text: each column's SELECT expression (core/type-map.ts) picks
 * a spelling ClickHouse parses exactly, and COPY's text format escapes tabs,
 * newlines and backslashes the way TabSeparated expects, with \N for NULL.
 * So rows stay bytes from PostgreSQL's socket to ClickHouse's: nothing is
 * parsed into JavaScript values, and int8 never becomes a JS number.
 */
export function copyStatement(plan: TablePlan, range: ChunkRange): string {
  const select = selectRangeSql(plan, copySelectList(plan), range);
  return `COPY (${select}) TO STDOUT`;
}

/** Counts bytes and rows (newlines) flowing through, for heartbeats. */
export class CopyMeter extends Transform {
  bytes = 0;
  rows = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.rows++;
    done(null, chunk);
  }
}

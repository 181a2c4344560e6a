import { describe, expect, it } from 'vitest';
import { cursorChangedMessage, cursorConflict, restartEvidence, UNNAMED_INTEGER, UNNAMED_TIMESTAMP } from '../../core/watermark';
import { describeCursorValue, positionFields } from '../../core/keyset';

const INTEGER = { cursor: 'id' };
const KEYSET = { cursor: 'updated_at', keyset: { time: 'updated_at', timeType: 'timestamptz' as const, tiebreak: 'id', tiebreakType: 'bigint' } };

describe('cursorConflict', () => {
  it('accepts checkpoints written under the same cursor, or none', () => {
    expect(cursorConflict([], INTEGER)).toBeNull();
    expect(cursorConflict(['id'], INTEGER)).toBeNull();
    expect(cursorConflict(['updated_at', UNNAMED_TIMESTAMP], KEYSET)).toBeNull();
    expect(cursorConflict([UNNAMED_INTEGER], INTEGER)).toBeNull();
  });

  it('names a recorded cursor that differs', () => {
    expect(cursorConflict(['id'], KEYSET)).toBe('cursor "id"');
    expect(cursorConflict(['updated_at'], INTEGER)).toBe('cursor "updated_at"');
    // Two integer columns: the kind alone would not tell.
    expect(cursorConflict(['seq'], INTEGER)).toBe('cursor "seq"');
  });

  it('infers the kind of checkpoints from before the cursor was recorded', () => {
    expect(cursorConflict([UNNAMED_INTEGER], KEYSET)).toBe('an integer cursor');
    expect(cursorConflict([UNNAMED_TIMESTAMP], INTEGER)).toBe('a timestamp cursor');
  });

  it('says how to resync', () => {
    const msg = cursorChangedMessage({ ...KEYSET, key: 'events', destination: { database: 'dw', table: 'events' } }, 'cursor "id"');
    expect(msg).toMatch(/written under cursor "id", and this sync uses cursor "updated_at" \(timestamp\)/);
    expect(msg).toMatch(/DROP TABLE `dw`.`events` in ClickHouse, then run pg2ch sync events/);
  });
});

describe('restartEvidence', () => {
  const seq = (next: string) => ({ name: 'public.t_id_seq', next });

  it('is certain when the sequence numbers the next row at or below the watermark', () => {
    expect(restartEvidence('100', seq('1'), '3')).toBe('sequence');
    expect(restartEvidence('100', seq('100'), null)).toBe('sequence');
    // Int8 beyond 2^53 is compared exactly.
    expect(restartEvidence('9007199254740993', seq('9007199254740993'), null)).toBe('sequence');
    expect(restartEvidence('9007199254740993', seq('9007199254740994'), null)).toBeNull();
  });

  it('never fires on deleted rows when the sequence moved on', () => {
    // The newest rows deleted: max below the watermark, but the sequence is past it.
    expect(restartEvidence('100', seq('101'), '90')).toBeNull();
    expect(restartEvidence('100', seq('101'), null)).toBeNull();
  });

  it('without a sequence, a largest id below the watermark is only a warning', () => {
    expect(restartEvidence('100', null, '90')).toBe('below');
    expect(restartEvidence('100', null, '100')).toBeNull();
    expect(restartEvidence('100', null, null)).toBeNull();
  });

  it('has nothing to say before the first checkpoint', () => {
    expect(restartEvidence(null, seq('1'), '5')).toBeNull();
  });
});

describe('describeCursorValue', () => {
  it('shows a keyset position as its UTC time and tiebreak, an id as it is', () => {
    expect(describeCursorValue('1676509563675998:5518')).toBe('2023-02-16T01:06:03.675998Z / 5518');
    expect(describeCursorValue('1676509563675998')).toBe('1676509563675998');
    expect(describeCursorValue('42')).toBe('42');
  });

  it('adds time and key fields for JSON only for positions', () => {
    expect(positionFields('1676509563675998:5518', { time: 'lastTime', key: 'lastKey' })).toEqual({ lastTime: '2023-02-16T01:06:03.675998Z', lastKey: '5518' });
    expect(positionFields('42', { time: 'lastTime', key: 'lastKey' })).toEqual({});
    expect(positionFields(null, { time: 'lastTime', key: 'lastKey' })).toEqual({});
  });
});

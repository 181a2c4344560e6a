import { describe, expect, it } from 'vitest';
import { capabilitiesFor, MIN_CLICKHOUSE, parseVersion } from '../../core/clickhouse-version';

describe('parseVersion', () => {
  it.each([
    ['18.16.1.0', [18, 16]],
    ['24.8.1', [24, 8]],
    ['24.8.1.2684', [24, 8]],
    ['22.2', [22, 2]],
    ['1.1.54343', [1, 1]],
    ['  23.3.1.1  ', [23, 3]],
    ['25.10.1.3832-stable', [25, 10]],
    ['21.8.15.7-altinitystable', [21, 8]],
  ])('reads %j as %j', (v, expected) => {
    expect(parseVersion(v)).toEqual(expected);
  });

  it('compares numerically, not as text', () => {
    expect(parseVersion('9.10')).toEqual([9, 10]);
  });

  it.each(['', 'garbage', 'v24.8.1', '24', '24.', '.8.1', 'twenty.four'])('rejects %j', (v) => {
    expect(() => parseVersion(v)).toThrowError(new Error(`cannot read the ClickHouse version from ${JSON.stringify(v)}`));
  });
});

describe('MIN_CLICKHOUSE', () => {
  it('is 18.16', () => {
    expect(MIN_CLICKHOUSE).toBe('18.16');
  });
});

describe('capabilitiesFor', () => {
  it('18.16.1.0 (the oldest supported) has none of the new features', () => {
    expect(capabilitiesFor('18.16.1.0')).toStrictEqual({
      version: '18.16.1.0',
      dedupToken: false,
      dateTime64: false,
      date32: false,
      bool: false,
      jsonExtract: false,
      wideDateRange: false,
      decimal256: false,
      jsonType: false,
      isDeleted: false,
      arraysReadEscaped: false,
      floatTextExact: false,
    });
  });

  it('24.8.1 has every feature but the JSON type', () => {
    expect(capabilitiesFor('24.8.1')).toStrictEqual({
      version: '24.8.1',
      dedupToken: true,
      dateTime64: true,
      date32: true,
      bool: true,
      jsonExtract: true,
      wideDateRange: true,
      decimal256: true,
      jsonType: false,
      isDeleted: true,
      arraysReadEscaped: false,
      floatTextExact: true,
    });
  });

  it('26.7.2.1 (the embedded engine) has every feature', () => {
    expect(capabilitiesFor('26.7.2.1')).toStrictEqual({
      version: '26.7.2.1',
      dedupToken: true,
      dateTime64: true,
      date32: true,
      bool: true,
      jsonExtract: true,
      wideDateRange: true,
      decimal256: true,
      jsonType: true,
      isDeleted: true,
      arraysReadEscaped: false,
      floatTextExact: true,
    });
  });

  it('never sets arraysReadEscaped: the version does not say, a probe at connect time does', () => {
    for (const v of ['18.16.1', '22.8.1', '24.8.1', '26.7.2.1']) expect(capabilitiesFor(v).arraysReadEscaped).toBe(false);
  });

  it('reads float text exactly from 21.1 (fast_float); older servers need digits their own reader reads exactly', () => {
    expect(capabilitiesFor('20.12.1').floatTextExact).toBe(false);
    expect(capabilitiesFor('21.1.2').floatTextExact).toBe(true);
  });

  it('keeps the version string exactly as given', () => {
    expect(capabilitiesFor('23.8.2.7-lts').version).toBe('23.8.2.7-lts');
  });

  it('accepts 18.16 without a patch part', () => {
    expect(capabilitiesFor('18.16').dedupToken).toBe(false);
  });

  it.each([
    ['1.1.54', '1.1.54'],
    ['1.1.54343', '1.1.54343'],
    ['18.15.9', '18.15.9'],
    ['18.1.0', '18.1.0'],
    ['17.99', '17.99'],
  ])('rejects %s as too old', (v, shown) => {
    expect(() => capabilitiesFor(v)).toThrowError(new Error(`ClickHouse ${shown} is too old: pg2ch needs 18.16 or newer`));
  });

  it('rejects garbage with a message quoting it', () => {
    expect(() => capabilitiesFor('garbage')).toThrowError(new Error('cannot read the ClickHouse version from "garbage"'));
  });

  it('rejects an empty version', () => {
    expect(() => capabilitiesFor('')).toThrow(/^cannot read the ClickHouse version from ""$/);
  });

  describe('feature thresholds', () => {
    it.each([
      ['19.14', false],
      ['19.15', true],
      ['20.1', true],
    ])('jsonExtract on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).jsonExtract).toBe(expected);
    });

    it.each([
      ['19.17', false],
      ['20.1', true],
      ['20.3', true],
    ])('dateTime64 on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).dateTime64).toBe(expected);
    });

    it.each([
      ['21.8', false],
      ['21.9', true],
      ['22.1', true],
    ])('date32 on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).date32).toBe(expected);
    });

    it.each([
      ['21.11', false],
      ['21.12', true],
      ['22.1', true],
    ])('bool on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).bool).toBe(expected);
    });

    it.each([
      ['21.12', false],
      ['22.1', false],
      ['22.2', true],
      ['22.10', true],
      ['23.1', true],
    ])('dedupToken on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).dedupToken).toBe(expected);
    });

    it('compares minor versions numerically (21.12 is newer than 21.9)', () => {
      const c = capabilitiesFor('21.12.4');
      expect(c.date32).toBe(true);
      expect(c.bool).toBe(true);
      expect(c.dedupToken).toBe(false);
    });

    it('a mid-range server (20.8) has DateTime64 and JSONExtract only', () => {
      expect(capabilitiesFor('20.8.3.18')).toStrictEqual({
        version: '20.8.3.18',
        dedupToken: false,
        dateTime64: true,
        date32: false,
        bool: false,
        jsonExtract: true,
        wideDateRange: false,
        decimal256: false,
        jsonType: false,
        isDeleted: false,
        arraysReadEscaped: false,
        floatTextExact: false,
      });
    });

    it.each([
      ['24.12', false],
      ['25.2', false],
      ['25.3', true],
      ['25.10', true],
      ['26.1', true],
    ])('jsonType on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).jsonType).toBe(expected);
    });

    it.each([
      ['22.12', false],
      ['23.1', false],
      ['23.2', true],
      ['23.10', true],
      ['24.1', true],
    ])('isDeleted on %s is %s', (v, expected) => {
      expect(capabilitiesFor(v).isDeleted).toBe(expected);
    });
  });
});

describe('thresholds found in review', () => {
  it('Date32 and DateTime64 span 1900-2299 only from 22.8', () => {
    expect(capabilitiesFor('22.7.1').wideDateRange).toBe(false);
    expect(capabilitiesFor('22.8.1').wideDateRange).toBe(true);
  });
  it('the JSON column type without experimental settings only from 25.3', () => {
    expect(capabilitiesFor('25.2.2.39').jsonType).toBe(false);
    expect(capabilitiesFor('25.3.1.2703-lts').jsonType).toBe(true);
  });
  it('ReplacingMergeTree is_deleted only from 23.2', () => {
    expect(capabilitiesFor('23.1.3').isDeleted).toBe(false);
    expect(capabilitiesFor('23.2.1').isDeleted).toBe(true);
  });
  it('Decimal above precision 38 only from 22.1', () => {
    expect(capabilitiesFor('21.12.1').decimal256).toBe(false);
    expect(capabilitiesFor('22.1.1').decimal256).toBe(true);
  });
});

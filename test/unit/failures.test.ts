import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { toFailure } from '../../activities/failures';
import { UserError } from '../../core/errors';

// What leaves an activity is written into workflow history: it must be one
// readable line, classified, and free of secrets even when the cause echoes them.
describe('toFailure', () => {
  it('scrubs a password an error echoes, and keeps it out of the failure entirely', () => {
    const err = Object.assign(new Error('could not connect to postgres://app:Pw-123456@db:5432/x with password Pw-123456\nstack line'), {
      code: 'ECONNREFUSED',
    });
    const f = toFailure(err, ['Pw-123456']) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.message).toBe('could not connect to postgres://app:***@db:5432/x with password ***');
    expect(f.nonRetryable).toBe(false);
    expect(f.type).toBe('NetworkError');
    expect(f.cause).toBeUndefined();
    expect(JSON.stringify({ m: f.message, d: f.details, s: f.stack })).not.toContain('Pw-123456');
  });

  it('makes a user error non-retryable with its type', () => {
    const f = toFailure(new UserError('table t does not exist in PostgreSQL', 'MissingTable'), []) as ApplicationFailure;
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('MissingTable');
    expect(f.message).toBe('table t does not exist in PostgreSQL');
  });

  it('passes an ApplicationFailure through unchanged', () => {
    const a = ApplicationFailure.nonRetryable('x', 'T');
    expect(toFailure(a, ['x'])).toBe(a);
  });
});

import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, TemporalFailure } from '@temporalio/common';

/** The innermost readable reason of a workflow failure: usually the activity's ApplicationFailure. */
export function failureMessage(err: unknown): string {
  let cur: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  let last = cur instanceof Error ? cur.message : String(cur);
  while (cur instanceof TemporalFailure) {
    if (cur instanceof ApplicationFailure && cur.message) last = cur.message;
    else if (!(cur instanceof ActivityFailure) && cur.message) last = cur.message;
    cur = cur.cause;
  }
  return last;
}

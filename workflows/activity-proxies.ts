import { proxyActivities } from '@temporalio/workflow';
import type { Pg2chActivities } from '../activities';

// Timeouts and retries, declared once for every workflow. Short calls get
// short timeouts: one lost with a crashed worker is retried after its
// timeout, so that bounds the recovery time. prepareTable may wait for
// ON CLUSTER DDL and planBackfill for statistics; the copy heartbeats instead.
const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 25 } as const;

export const { prepareTable, planBackfill, planVerify, readStatus } = proxyActivities<Pg2chActivities>({ startToCloseTimeout: '5m', retry });
export const { readChunk, checkpoint } = proxyActivities<Pg2chActivities>({ startToCloseTimeout: '30s', retry });
export const { insertBatch, verifySegment, verifyByKey, recheckLate, repairRange } = proxyActivities<Pg2chActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '20s',
  retry,
});

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

// CDC: the read holds the replication connection for minutes and heartbeats;
// retried without end (a stream outlives any outage), except errors no retry fixes.
export const { cdcPrepare } = proxyActivities<Pg2chActivities>({ startToCloseTimeout: '2h', heartbeatTimeout: '1m', retry });
export const { cdcRead } = proxyActivities<Pg2chActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});
export const { cdcDrop, cdcStatus } = proxyActivities<Pg2chActivities>({ startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } });

export { createActivities, type Pg2chActivities, type PrepareResult } from './sync-activities';
export type { ActivityDeps, ClickHouseTarget } from './deps';

// The workflow bundle's entry point: only workflow code, no Node modules.
export * from './sync-table';
export * from './backfill';
export * from './status';
export * from './verify';
export * from './cdc';

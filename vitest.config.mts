import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons (chdb, Temporal core) are unsafe in worker threads.
    pool: 'forks',
    // Two cores and shared servers: one test file at a time.
    fileParallelism: false,
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});

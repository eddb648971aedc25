import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // e2e suites share one containerd and must not run in parallel with each other
    fileParallelism: true,
    reporters: ['default'],
  },
});

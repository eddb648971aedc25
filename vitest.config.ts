import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // every e2e file starts its own private containerd, so files may run in parallel
    fileParallelism: true,
    reporters: ['default'],
  },
});

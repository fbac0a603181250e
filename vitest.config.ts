import { defineConfig } from 'vitest/config';

/**
 * Suites that drive the container engine (Podman) and build images. They run after everything else, one file at a
 * time: image builds take both cores for seconds at a time, which starves the timing-sensitive suites (the fuzz
 * oracle, resumable streams, swaps), and Podman 4.3 trips over concurrent network set-ups.
 */
const ENGINE_SUITES = [
  'src/runtime/container/runtime.test.ts',
  'src/control/image-builds.test.ts',
  'test/e2e/container-*.test.ts',
  'test/e2e/image-*.test.ts',
  'test/e2e/sources-container.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites start real processes and servers; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...ENGINE_SUITES],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'engine',
          include: ENGINE_SUITES,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

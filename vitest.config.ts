import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start real OPA, Redis, ClickHouse and MCP servers; on a
    // 2-core machine running them in parallel only makes every one of them slower.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    // Read by .ci/run to print the plain "N passed, N failed" closing line.
    outputFile: { json: '.tmp/vitest-report.json' },
    // `vitest run --coverage` (npm test): line coverage of src/, gated per
    // stage folder by scripts/coverage-gate.ts. Code run in child processes
    // (the e2e tests' `sark serve`) is not seen by V8's coverage of this one.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/demo/**'],
      reporter: ['json-summary'],
      reportsDirectory: '.tmp/coverage',
    },
  },
});

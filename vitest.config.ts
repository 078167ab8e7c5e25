import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    reporters: ['default', './tests/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // expect.poll's own default (1 s) is shorter than a redraw of the wizard on a busy 2-core CI
    // machine: an e2e walk failed on it once ("Matcher did not succeed in time") and passed alone.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});

/**
 * The test projects (`npm test` runs all three; `npx jest --selectProjects unit` one):
 * - unit: in-process code with no database, Redis, build or child process to wait for
 *   (sizing, metric names, config, the cgroup guard, the worker cache, the chart and its rules) — seconds;
 * - integration: the service in-process against a scratch PostgreSQL database and Redis;
 * - process: real processes — the built service, PM2, cdk8s synth, promtool, Prometheus,
 *   the command-line tools; builds first.
 * make reliability and make cluster-test reuse the process project's setup.
 */
const path = require('node:path');

const shared = {
  rootDir: path.resolve(__dirname, '..'),
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  globalTeardown: '<rootDir>/test-support/setup/teardown.ts',
};

const unit = {
  ...shared,
  displayName: 'unit',
  testMatch: [
    '<rootDir>/common/test/**/*.test.ts',
    '<rootDir>/infra/test/chart.test.ts',
    '<rootDir>/infra/test/edge.test.ts',
    '<rootDir>/infra/test/pod-security.test.ts',
    '<rootDir>/service/test/config.test.ts',
    '<rootDir>/service/test/health/**/*.test.ts',
    '<rootDir>/service/test/links/local-cache.test.ts',
    '<rootDir>/service/test/metrics/histogram.test.ts',
    '<rootDir>/loadtest/test/traffic.test.ts',
    '<rootDir>/loadtest/test/bench.test.ts',
  ],
  globalSetup: '<rootDir>/test-support/setup/unit.ts',
};

const integration = {
  ...shared,
  displayName: 'integration',
  testMatch: [
    '<rootDir>/service/test/links/**/*.test.ts',
    '<rootDir>/service/test/db/**/*.test.ts',
    '<rootDir>/service/test/rate-limit.test.ts',
    '<rootDir>/service/test/route-labels.test.ts',
    '<rootDir>/service/test/ports.test.ts',
    '<rootDir>/loadtest/test/runner.test.ts',
    '<rootDir>/loadtest/test/seed.test.ts',
  ],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/service/test/links/local-cache.test.ts'],
  globalSetup: '<rootDir>/test-support/setup/integration.ts',
};

const processes = {
  ...shared,
  displayName: 'process',
  testMatch: [
    '<rootDir>/service/test/pm2/**/*.test.ts',
    '<rootDir>/service/test/metrics/server.test.ts',
    '<rootDir>/service/test/shutdown.test.ts',
    '<rootDir>/service/test/logger.test.ts',
    '<rootDir>/service/test/npm-scripts.test.ts',
    '<rootDir>/infra/test/synth.test.ts',
    '<rootDir>/infra/test/command-lines.test.ts',
    '<rootDir>/infra/test/preflight.test.ts',
    '<rootDir>/infra/test/monitoring/**/*.test.ts',
    '<rootDir>/infra/test/docs/**/*.test.ts',
    '<rootDir>/loadtest/test/plan.test.ts',
    '<rootDir>/test-support/*.test.ts',
  ],
  globalSetup: '<rootDir>/test-support/setup/process.ts',
};

/** A suite that runs alone, one file at a time, with the process project's setup (make reliability, image-test, cluster-test). */
const alone = (displayName, testMatch, testTimeout) => ({
  ...processes,
  displayName,
  testMatch: [testMatch],
  maxWorkers: 1,
  testTimeout,
});

module.exports = { unit, integration, process: processes, alone };

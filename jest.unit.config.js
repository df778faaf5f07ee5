/**
 * `npm run test:unit`: the tests that need no database, Redis, build or child
 * service (sizing, config, the cgroup guard, the worker cache, chart, manifest
 * and Pod Security rules): 146 tests in about 40 s. `npm test` runs them with the rest.
 */
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/infra/test/sizing.test.ts',
    '<rootDir>/infra/test/chart.test.ts',
    '<rootDir>/infra/test/pod-security.test.ts',
    '<rootDir>/service/test/config.test.ts',
    '<rootDir>/service/test/health/sizing-guard.test.ts',
    '<rootDir>/service/test/links/local-cache.test.ts',
  ],
  globalSetup: '<rootDir>/service/test/tmp-sandbox.ts',
};

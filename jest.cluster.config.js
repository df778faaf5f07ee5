/** `make cluster-test`: the cluster suite alone, in order, against the cluster infra/cluster/run.sh started. */
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/infra/cluster/test/**/*.test.ts'],
  testPathIgnorePatterns: [],
  maxWorkers: 1,
  testTimeout: 10 * 60_000,
};

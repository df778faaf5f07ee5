/** `make cluster-test`: the cluster suite alone, in order, against the cluster infra/cluster/run.sh started. */
const { process: processes } = require('./test-support/jest-projects');

module.exports = {
  ...processes,
  displayName: 'cluster',
  testMatch: ['<rootDir>/infra/cluster/test/**/*.test.ts'],
  maxWorkers: 1,
  testTimeout: 10 * 60_000,
};

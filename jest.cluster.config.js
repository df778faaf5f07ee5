/** `make cluster-test`: the cluster suite alone, in order, against the cluster infra/cluster/run.sh started. */
const { alone } = require('./test-support/jest-projects');

module.exports = alone('cluster', '<rootDir>/infra/cluster/test/**/*.test.ts', 10 * 60_000);

/** `make reliability`: the fault suite alone, one file at a time (each puts a PM2 cluster under load). */
const { process: processes } = require('./test-support/jest-projects');

module.exports = {
  ...processes,
  displayName: 'faults',
  testMatch: ['<rootDir>/service/test/faults/**/*.test.ts'],
  maxWorkers: 1,
  testTimeout: 120_000,
};

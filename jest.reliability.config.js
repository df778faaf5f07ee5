/** `make reliability`: the fault suite alone, one file at a time (each puts a PM2 cluster under load). */
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/service/test/faults/**/*.test.ts'],
  testPathIgnorePatterns: [],
  maxWorkers: 1,
  testTimeout: 120_000,
};

/** `make reliability`: the fault suite alone, one file at a time (each puts a PM2 cluster under load). */
const { alone } = require('./test-support/jest-projects');

module.exports = alone('faults', '<rootDir>/service/test/faults/**/*.test.ts', 120_000);

/** Tests run against real PostgreSQL and Redis; see service/test/global-setup.ts. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testMatch: [
    '<rootDir>/service/test/**/*.test.ts',
    '<rootDir>/infra/test/**/*.test.ts',
    '<rootDir>/loadtest/test/**/*.test.ts',
  ],
  // The fault suite puts PM2 clusters under load and runs alone: make reliability (jest.reliability.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/service/test/faults/'],
  globalSetup: '<rootDir>/service/test/global-setup.ts',
  globalTeardown: '<rootDir>/service/test/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 2,
};

/** `make image-test`: the container test alone, against the image make image-test built. */
const { process: processes } = require('./test-support/jest-projects');

module.exports = {
  ...processes,
  displayName: 'image',
  testMatch: ['<rootDir>/infra/image-test/**/*.test.ts'],
  maxWorkers: 1,
  testTimeout: 120_000,
};

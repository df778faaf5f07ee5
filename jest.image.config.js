/** `make image-test`: the container test alone, against the image make image-test built. */
const { alone } = require('./test-support/jest-projects');

module.exports = alone('image', '<rootDir>/infra/image-test/**/*.test.ts', 120_000);

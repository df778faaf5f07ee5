/** `npm test`: the unit, integration and process projects (test-support/jest-projects.js). */
const { unit, integration, process: processes } = require('./test-support/jest-projects');

module.exports = {
  projects: [unit, integration, processes],
  maxWorkers: 2,
  // A run-wide option: jest ignores it inside a project.
  testTimeout: 60_000,
};

import path from 'node:path';

/** The repository's root, for tests and their helpers wherever they live. */
export const ROOT = path.resolve(__dirname, '..');

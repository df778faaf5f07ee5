import { tmpSandbox } from '../sandbox';

/** The unit project's global setup: the temporary folder only (no database, no build). */
export default tmpSandbox;

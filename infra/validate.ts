import path from 'node:path';
import { parseArgs } from 'node:util';
import { readRelease } from './manifests-dir';
import { checkManifests } from './rules';
import { schemaProblems } from './schemas';

/**
 * `make validate [DIR=charts-out]`: the synthesized release (and its gateway/) checked offline,
 * with no API server (`kubectl apply --dry-run=client` needs one): every
 * object against the Kubernetes API's schema for its kind, then the project's
 * manifest rules (resources, probes, Pod Security restricted, policies…).
 * Exits 1 naming every problem.
 */
const { values } = parseArgs({
  options: { dir: { type: 'string', default: 'charts-out' }, env: { type: 'string', default: 'prod' } },
});
const objects = readRelease(path.resolve(values.dir!));
const problems = [...schemaProblems(objects), ...checkManifests(objects, { environment: values.env! })];
for (const p of problems) process.stderr.write(`${p}\n`);
process.stdout.write(
  problems.length === 0
    ? `${values.dir}: ${objects.length} objects valid against the Kubernetes API schemas and the manifest rules\n`
    : `${values.dir}: ${problems.length} problem(s) in ${objects.length} objects\n`,
);
process.exitCode = problems.length === 0 ? 0 : 1;

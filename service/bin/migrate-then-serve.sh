#!/bin/sh
# The Deployment's command: apply pending migrations, then become pm2-runtime.
# Migrations run in the serving container itself (not an init container, nor a
# Job) so that `kubectl set image deployment/boltlink-backend backend=…:v1.1`,
# typed as it is, moves the migrations and the code to the new image together.
# The first pod of a release takes the migration lock and applies them, within
# the sizing's migrationBudgetSeconds (MIGRATION_BUDGET_SECONDS: the startup
# probe and the rollout's progress deadline allow for it); every other pod,
# and every pod an HPA scale-out starts meanwhile, finds the lock taken
# (--skip-if-locked), starts at once and waits, unready, for the schema. A
# failing or overrunning migration exits non-zero: that pod restarts, none of
# the new pods turns Ready, and with maxUnavailable 0 the rollout stalls while
# the old pods keep serving.
set -e
cd "$(dirname "$0")/../.."
node dist/service/src/db/migrate-cli.js --skip-if-locked
exec node_modules/.bin/pm2-runtime service/ecosystem.config.js

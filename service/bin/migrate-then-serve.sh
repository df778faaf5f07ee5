#!/bin/sh
# The Deployment's command: apply pending migrations, then become pm2-runtime.
# Migrations run in the serving container itself (not an init container) so
# that `kubectl set image deployment/boltlink-backend backend=…:v1.1` moves the
# migrations and the code to the new image together. A failing migration exits
# non-zero: the pod never turns Ready, and with maxUnavailable 0 the rollout
# stalls while the old pods keep serving.
set -e
cd "$(dirname "$0")/../.."
node dist/service/src/db/migrate-cli.js
exec node_modules/.bin/pm2-runtime service/ecosystem.config.js

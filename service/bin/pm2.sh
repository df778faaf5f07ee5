#!/bin/sh
# The PM2 commands behind npm run monit|logs: pm2 with
# PM2_INSTANCES from common/sizing.ts for the environment in BOLTLINK_SIZING
# (default: local), in PM2's own home (~/.pm2 unless PM2_HOME says otherwise),
# so `npx pm2 status` and the other commands of the guide see the same cluster.
# Builds dist/ first when it is stale (the ecosystem file loads dist/common/sizing.js).
set -e
cd "$(dirname "$0")/../.."
sh service/bin/ensure-built.sh
export BOLTLINK_SIZING="${BOLTLINK_SIZING:-local}"
if [ -z "${PM2_INSTANCES:-}" ]; then
  PM2_INSTANCES="$(node dist/common/sizing-cli.js --env "$BOLTLINK_SIZING" --get pm2Instances)"
  export PM2_INSTANCES
fi
# `logs` without an app: the BoltLink app's (PM2_APP_NAME, common/contract.ts), not every app in this PM2 home.
if [ "${1:-}" = logs ] && { [ $# -eq 1 ] || [ "${2#-}" != "$2" ]; }; then
  shift
  set -- logs "$(node -p "require('./dist/common/contract.js').PM2_APP_NAME")" "$@"
fi
# PM2 keeps no log files here (ecosystem out_file/error_file: /dev/null): its "last lines" are always empty.
if [ "${1:-}" = logs ]; then
  echo "PM2 keeps no log files here (the workers log to stdout, as in a container): only new lines follow." >&2
fi
exec node node_modules/pm2/bin/pm2 "$@"

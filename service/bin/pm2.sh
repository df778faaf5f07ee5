#!/bin/sh
# Runs pm2 the way the image does: PM2_HOME under /tmp (writable, never the
# image's root filesystem) and PM2_INSTANCES from infra/sizing.ts for the
# environment in BOLTLINK_SIZING (default: local). Needs `npm run build` first.
set -e
cd "$(dirname "$0")/../.."
export PM2_HOME="${PM2_HOME:-/tmp/boltlink-pm2}"
export BOLTLINK_SIZING="${BOLTLINK_SIZING:-local}"
if [ -z "${PM2_INSTANCES:-}" ]; then
  PM2_INSTANCES="$(node dist/infra/sizing-cli.js --env "$BOLTLINK_SIZING" --get pm2Instances)"
  export PM2_INSTANCES
fi
exec node node_modules/pm2/bin/pm2 "$@"

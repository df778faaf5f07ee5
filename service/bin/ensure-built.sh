#!/bin/sh
# Builds dist/ (npm run build) when it is missing or older than what it is built
# from, so `npm start`, `npm run db:migrate` and the PM2 scripts work straight
# after `npm ci`. A no-op where there are no sources (the image ships dist/ only).
set -e
cd "$(dirname "$0")/../.."
stamp=dist/.built
[ -d service/src ] || exit 0
if [ -e "$stamp" ] && [ -z "$(find service/src service/prisma common package.json tsconfig.json tsconfig.build.json \
  -newer "$stamp" ! -path 'service/src/generated/*' ! -path 'common/test/*' -print 2>/dev/null | head -n 1)" ]; then
  exit 0
fi
echo "dist/ is missing or older than its sources: running npm run build" >&2
npm run -s build >&2

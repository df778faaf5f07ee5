#!/usr/bin/env bash
# make cluster-test: builds what it needs, starts the test cluster, runs the
# cluster suite (infra/cluster/test/) against it, and always tears it down.
# Prints each phase's duration, then one summary line per proof.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=infra/cluster
started=$(date +%s)
last=$started
phase() {
  local now
  now=$(date +%s)
  printf '[cluster-test] %-44s %4d s (total %d s)\n' "$1" $((now - last)) $((now - started))
  last=$now
}

CLUSTER_BIN=$("$here/build.sh")
export CLUSTER_BIN
phase "Kubernetes $(basename "$(dirname "$CLUSTER_BIN")"), metrics-server, kube-router, Traefik built"
bash infra/image-test/engine.sh >/dev/null
make --no-print-directory image ENV=cluster-test TAG=cluster-test-1 >/dev/null
phase "image boltlink-backend:cluster-test-1 (make image)"

summary=$(mktemp)
export CLUSTER_SUMMARY=$summary
teardown() {
  local status=$?
  "$here/down.sh" || status=1
  phase "torn down"
  # The teardown touches only what this run made: look-alikes made before it are all still there.
  "$here/decoys.sh" check | sed 's/^/  /' || status=1
  rm -f "$summary"
  exit $status
}
# What a killed earlier run may have left, by that run's snapshot of the host: a look-alike made
# since would look like its own, so the decoys come after this and prove this run's teardown.
"$here/down.sh"
"$here/decoys.sh" create
trap teardown EXIT
"$here/up.sh" >/dev/null
phase "cluster up (node Ready)"
status=0
# --forceExit: the results are in when Jest would wait for a leftover handle (a case that threw before
# stopping a poll loop once kept a CI run waiting until the CI's own limit); the teardown stops the rest.
npx --no-install jest -c jest.cluster.config.js --forceExit || status=$?
phase "cluster suite"
echo
echo "cluster-test summary:"
sed 's/^/  /' "$summary"
exit $status

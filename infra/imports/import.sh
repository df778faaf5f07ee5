#!/usr/bin/env bash
# Regenerates infra/imports/ (`npm run import:gateway-api`): gateway.networking.k8s.io.ts, cdk8s
# import of the Gateway API's standard-channel HTTPRoute CRD, and httproute-v1.schema.json, that
# CRD's v1 OpenAPI schema, which make validate checks the HTTPRoute against offline
# (infra/schemas.ts). The CRD comes from the Go module proxy (sigs.k8s.io/gateway-api carries its
# CRDs, checked against the checksum database), because the machines that build this reach no
# other host. GATEWAY_API_VERSION is the one make cluster-test's Traefik (v3.6.12,
# infra/cluster/traefik/go.mod) is built against. Only HTTPRoute is imported: the Gateway is the
# platform's, not the release's.
set -euo pipefail
GATEWAY_API_VERSION=v1.4.0
cd "$(dirname "$0")/../.."
dir=$(go mod download -json "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "import.sh: go mod download sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION} gave no folder" >&2; exit 1; }
crd="$dir/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
# cdk8s import also records the CRD's path in cdk8s.yaml: a path in this machine's module cache, kept out.
keep=$(mktemp)
cp cdk8s.yaml "$keep"
trap 'mv "$keep" cdk8s.yaml' EXIT
npx cdk8s import "$crd" --output infra/imports
node -e '
const { parse } = require("yaml");
const crd = parse(require("fs").readFileSync(process.argv[1], "utf8"));
const v1 = crd.spec.versions.find((v) => v.name === "v1");
process.stdout.write(JSON.stringify({ gatewayApiVersion: process.argv[2], schema: v1.schema.openAPIV3Schema }) + "\n");
' "$crd" "$GATEWAY_API_VERSION" > infra/imports/httproute-v1.schema.json

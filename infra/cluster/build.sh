#!/usr/bin/env bash
# Builds the test cluster's upstream binaries into $CLUSTER_BIN (default
# ~/.cache/boltlink-cluster/<version>/bin) and prints that folder:
#   go.mod                 etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#                          kube-proxy, kubectl and kubemark (hollow nodes), Kubernetes as go.mod pins it;
#   metrics-server/go.mod  metrics-server, with the Kubernetes libraries of its own release;
#   kube-router/go.mod     kube-router (its network policy controller enforces NetworkPolicies);
#   traefik/go.mod         Traefik, the edge section's ingress and Gateway API controller (static: it
#                          runs in a pod, from an image of that one file).
# Go's build cache makes a second run take seconds; a cold one takes many minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"

# The Kubernetes release is the one go.mod pins; the binaries report it as their version
# (without these flags they say v0.0.0-master, and kubectl and the kubelet compare versions).
kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$kube_version" | cut -d. -f2)
bin="${CLUSTER_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/boltlink-cluster/$kube_version/bin}"
mkdir -p "$bin"

pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"

start=$(date +%s)
part=$start
# Each part's build time on stderr (a cold build takes minutes each; a warm one seconds).
built() {
  local now
  now=$(date +%s)
  echo "  built $1 in $((now - part)) s" >&2
  part=$now
}
GOBIN="$bin" go install -ldflags "$ldflags" tool
# etcd's main package is its server module's root (go.etcd.io/etcd/server/v3), which go install names server.
mv -f "$bin/server" "$bin/etcd"
built "Kubernetes $kube_version, etcd and kubemark"
for module in metrics-server kube-router; do
  (cd "$module" && GOBIN="$bin" go install -ldflags "-s -w" tool)
  built "$module"
done
traefik_version=$(cd traefik && go list -m -f '{{.Version}}' github.com/traefik/traefik/v3)
(cd traefik && CGO_ENABLED=0 GOBIN="$bin" go install \
  -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$traefik_version" tool)
built "Traefik $traefik_version"
echo "built everything into $bin in $(($(date +%s) - start)) s" >&2
echo "$bin"

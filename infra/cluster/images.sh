#!/usr/bin/env bash
# Puts images into the test cluster's containerd (namespace k8s.io), where the
# kubelet finds them: nothing can be pulled from a registry here.
#
#   images.sh pause          build the sandbox (pause) image from Kubernetes' own pause.c and import it
#   images.sh REF [REF...]   import images from the local Docker engine (docker save | ctr import)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.env"
ctr_import() { ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false - >/dev/null; }

if [ "${1:-}" = pause ]; then
  # The pause source ships in the k8s.io/kubernetes module that go.mod pins.
  src=$(cd "$here" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  version=${PAUSE_IMAGE##*:}
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  gcc -Os -static -DVERSION="$version" -o "$work/pause" "$src"
  # A one-file image: OCI layout by hand (docker is not needed for it).
  mkdir -p "$work/layer" "$work/oci/blobs/sha256"
  cp "$work/pause" "$work/layer/pause"
  tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$work/layer" -cf "$work/layer.tar" pause
  blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$work/oci/blobs/sha256/$d"; echo "$d"; }
  layer=$(blob "$work/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" >"$work/config.json"
  config=$(blob "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$config" "$(stat -c %s "$work/config.json")" "$layer" "$(stat -c %s "$work/layer.tar")" >"$work/manifest.json"
  manifest=$(blob "$work/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$(stat -c %s "$work/manifest.json")" "$PAUSE_IMAGE" "$version" >"$work/oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
  tar -C "$work/oci" -c . | ctr_import
  echo "imported $PAUSE_IMAGE (built from $src)" >&2
  exit 0
fi

for ref in "$@"; do
  docker save "$ref" | ctr_import
  echo "imported $ref" >&2
done

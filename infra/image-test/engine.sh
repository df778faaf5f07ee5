#!/usr/bin/env bash
# Makes a Docker engine and the Dockerfile's base image available, for
# `make image-test`.
#
# Engine: installs docker-compose when missing; if no engine answers, installs
# docker.io (Debian) and starts dockerd with
# the vfs storage driver and no bridge, iptables or IP forwarding: containers
# here run with --network host only.
#
# Base image: Docker Hub cannot be reached from this workplace, so when the
# base named by the Dockerfile's `ARG NODE_IMAGE` default cannot be pulled, this
# builds a local stand-in under exactly that name: a Debian bookworm rootfs from
# debootstrap plus this machine's Node.js and npm. The Dockerfile itself is
# never changed for the test. Where the registry is reachable, the real base is
# pulled instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

base=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
[ -n "$base" ] || { echo "no ARG NODE_IMAGE default in Dockerfile" >&2; exit 1; }
state=${BOLTLINK_DOCKER_STATE:-/tmp/boltlink-docker}

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The compose test drives docker-compose.pm2.yml with docker-compose v1 (Debian's package).
command -v docker-compose >/dev/null || apt_install docker-compose

if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || apt_install docker.io
  # Runtime state of an engine that was killed (sockets, pid files) would block a new one;
  # images and build cache live in $state/data and are kept.
  awk -v d="$state/exec/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$state/exec" "$state/docker.pid"
  mkdir -p "$state/data" "$state/exec"
  echo "starting dockerd (vfs, no bridge); log: $state/dockerd.log"
  nohup dockerd --storage-driver=vfs --iptables=false --ip-forward=false --bridge=none \
    --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/docker.pid" >"$state/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $state/dockerd.log" >&2; exit 1; }
fi

if docker image inspect "$base" >/dev/null 2>&1; then
  echo "base image $base present"
elif timeout 60 docker pull "$base" >/dev/null 2>&1; then
  echo "pulled $base"
else
  echo "building a local stand-in for $base (debootstrap bookworm + this machine's Node $(node --version))"
  command -v debootstrap >/dev/null || apt_install debootstrap
  work=$(mktemp -d)
  rootfs="$work/rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  install -D -m 0755 "$(readlink -f "$(command -v node)")" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # This machine reaches the npm registry through a TLS-inspecting proxy whose CA
  # only the host trusts; the stand-in carries the host's bundle so `npm ci` in
  # the build works as it would against the real base on an open network.
  ca_change=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$rootfs/usr/local/share/boltlink-host-ca.crt"
    ca_change=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/boltlink-host-ca.crt')
  fi
  tar -C "$rootfs" -c . | docker import "${ca_change[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$base" >/dev/null
  rm -rf "$work"
  echo "tagged stand-in $base"
fi

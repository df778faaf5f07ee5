#!/usr/bin/env bash
# What another cluster or program on this host could own, named like the test
# cluster's own things: iptables chains KUBE-… and CNI-… with a rule jumping to
# one, an ipset KUBE-…, kubepods cgroups, a veth pair, a network namespace cni-…
# and a mount. run.sh makes them before up.sh (after clearing what a killed run
# left) and checks after the teardown that it left every one alone, then removes them.
#
#   decoys.sh create      make them (names carry this script's pid; written to $STATE.decoys)
#   decoys.sh check       exit 1 naming each one that is gone; remove them all either way
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.env"
list=$STATE.decoys

case ${1:-} in
create)
  tag=DECOY$$
  cat >"$list" <<EOF
chain filter KUBE-$tag
chain nat CNI-$tag
ipset KUBE-$tag
cgroup /sys/fs/cgroup/cpu/kubepods
cgroup /sys/fs/cgroup/memory/kubepods-$tag
link bltdecoy$$
netns cni-decoy-$$
mount /tmp/boltlink-decoy-mount-$$
EOF
  nft list tables >"$list.tables"
  iptables -t filter -N "KUBE-$tag" && iptables -t filter -A FORWARD -j "KUBE-$tag"
  iptables -t nat -N "CNI-$tag"
  ipset create "KUBE-$tag" hash:ip
  mkdir -p /sys/fs/cgroup/cpu/kubepods "/sys/fs/cgroup/memory/kubepods-$tag"
  ip link add "bltdecoy$$" type veth peer name "bltdecoyp$$"
  ip netns add "cni-decoy-$$"
  mkdir -p "/tmp/boltlink-decoy-mount-$$" && mount -t tmpfs -o size=1m decoy "/tmp/boltlink-decoy-mount-$$"
  ;;
check)
  [ -e "$list" ] || { echo "no decoys at $list (decoys.sh create)" >&2; exit 1; }
  gone=()
  while read -r kind a b; do
    case $kind in
    chain) iptables -t "$a" -S "$b" >/dev/null 2>&1 || gone+=("iptables $a chain $b") ;;
    ipset) ipset list -n | grep -qx "$a" || gone+=("ipset $a") ;;
    cgroup) [ -d "$a" ] || gone+=("cgroup $a") ;;
    link) ip link show "$a" >/dev/null 2>&1 || gone+=("veth $a") ;;
    netns) ip netns list | grep -qw "$a" || gone+=("network namespace $a") ;;
    mount) grep -q " $a " /proc/mounts || gone+=("mount $a") ;;
    esac
  done <"$list"
  iptables -t filter -C FORWARD -j "$(awk '$2 == "filter" {print $3}' "$list")" 2>/dev/null || gone+=("the FORWARD rule jumping to the decoy chain")
  names=$(awk '{printf "%s%s %s", sep, $1, ($3 ? $3 : $2); sep = ", "}' "$list")
  while read -r kind a b; do
    case $kind in
    chain)
      iptables -t "$a" -D FORWARD -j "$b" 2>/dev/null
      iptables -t "$a" -F "$b" 2>/dev/null && iptables -t "$a" -X "$b" 2>/dev/null
      ;;
    ipset) ipset destroy "$a" 2>/dev/null ;;
    cgroup) rmdir "$a" 2>/dev/null ;;
    link) ip link del "$a" 2>/dev/null ;;
    netns) ip netns del "$a" 2>/dev/null ;;
    mount) umount "$a" 2>/dev/null && rmdir "$a" ;;
    esac
  done <"$list"
  # The nftables tables iptables-nft made for the decoys, now empty.
  nft list tables | grep -vxF -f "$list.tables" | while read -r _ family name; do
    [ -z "$(nft list table "$family" "$name" | grep -vE '^\s*(table |chain |type |}|$)')" ] && nft delete table "$family" "$name"
  done
  rm -f "$list" "$list.tables"
  if [ ${#gone[@]} -gt 0 ]; then
    echo "the teardown removed what was not its own: ${gone[*]}" >&2
    exit 1
  fi
  echo "teardown left the host's look-alikes alone: $names"
  ;;
*)
  echo "usage: decoys.sh create|check" >&2
  exit 2
  ;;
esac

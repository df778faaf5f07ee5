#!/usr/bin/env bash
# Tears the test cluster down: pods first (so the kubelet unwinds their network
# through CNI), then every process up.sh and hollow.sh started, and what this
# run made, found by name and nothing else: the mounts under the state folder
# (the pods' network namespaces included), the network namespaces, links and
# cgroups up.sh and hollow.sh recorded in $STATE/created, the veths on the
# cluster's bridge, the iptables chains and ipsets named like Kubernetes' and
# kube-router's that did not exist before up.sh ran (with the rules that jump to
# them), and the kernel settings the kubelet changed. Other rules, chains,
# cgroups, veths and namespaces on the host are left alone and do not fail it.
# Safe to run twice, or after a failed up.sh. The logs stay in
# $CLUSTER_STATE/logs for a post-mortem.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.env"
[ -d "$STATE" ] || exit 0
bin=${CLUSTER_BIN:-$("$here/build.sh" 2>/dev/null)}
export PATH="$bin:$PATH"
kc() { kubectl --kubeconfig "$STATE/admin.kubeconfig" --request-timeout 10s "$@"; }
recorded() { awk -v k="$1" '$1 == k {print $2}' "$STATE/created" 2>/dev/null; }
# Chains and ipsets of ours: named as Kubernetes' (KUBE-), the CNI plugins' (CNI-) and kube-router's are.
OURS='^(KUBE-|CNI-|kube-router)'

# 1. Pods, gracefully, while the kubelet and containerd still run.
if [ -e "$STATE/pids/kubelet.pid" ] && kc get --raw /readyz >/dev/null 2>&1; then
  for ns in $(kc get ns -o jsonpath='{.items[*].metadata.name}'); do
    case $ns in kube-system | kube-public | kube-node-lease | default) ;; *) kc delete ns "$ns" --wait=false >/dev/null ;; esac
  done
  kc delete deploy,rs,pods --all -n default --grace-period 1 --wait=false >/dev/null 2>&1
  for _ in $(seq 1 60); do
    [ -z "$(kc get pods -A -o name --field-selector "spec.nodeName=$NODE_NAME" 2>/dev/null)" ] && break
    sleep 1
  done
fi

# 2. The processes, newest first: hollow nodes, the host add-ons, the node, the control plane.
stop() {
  local pidfile=$1 pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}
for pidfile in "$STATE"/pids/hollow-*.pid; do [ -e "$pidfile" ] && stop "$pidfile"; done
for name in kube-router metrics-server kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
  [ -e "$STATE/pids/$name.pid" ] && stop "$STATE/pids/$name.pid"
done
# Container shims (and what they run) outlive containerd: stop every one that belongs to this state.
for pid in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK"); do
  pkill -9 -P "$pid" 2>/dev/null
  kill -9 "$pid" 2>/dev/null
done

# 3. Mounts under the state folder (the pods' network namespaces among them), deepest first.
awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null

# 4. Links: the veths on our bridge, then the links and network namespaces up.sh and hollow.sh made.
for veth in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link del "$veth" 2>/dev/null
done
for link in $(recorded link); do ip link del "$link" 2>/dev/null; done
for ns in $(recorded netns); do ip netns del "$ns" 2>/dev/null; done

# 5. iptables and ipsets: ours are named like KUBE-… or CNI-… and were not there before up.sh ran.
#    The rules elsewhere that jump to them go first, then they are flushed and deleted.
for cmd in iptables ip6tables; do
  before=$STATE/$cmd.before
  [ -e "$before" ] || continue
  for table in filter nat mangle raw; do
    now=$($cmd-save -t "$table" 2>/dev/null) || continue
    old=$(awk -v t="*$table" '$0 == t {f = 1; next} /^COMMIT/ {f = 0} f && /^:/ {print substr($1, 2)}' "$before")
    new=$(awk '/^:/ {print substr($1, 2)}' <<<"$now" | grep -E "$OURS" | grep -vxF -e "${old:-^$}" | tr '\n' ' ')
    [ -n "$new" ] || continue
    {
      echo "*$table"
      awk -v ours="$new" 'BEGIN {n = split(ours, a, " "); for (i = 1; i <= n; i++) mine[a[i]] = 1}
        /^-A / && !($2 in mine) {
          for (i = 3; i < NF; i++) if (($i == "-j" || $i == "-g") && ($(i + 1) in mine)) { sub(/^-A /, "-D "); print; next }
        }' <<<"$now"
      for chain in $new; do echo "-F $chain"; done
      for chain in $new; do echo "-X $chain"; done
      echo COMMIT
    } | $cmd-restore --noflush
  done
done
# The nftables tables iptables-nft made for them (nat, mangle, …), when they were not there before and are empty now.
if [ -e "$STATE/nft-tables.before" ]; then
  nft list tables 2>/dev/null | grep -vxF -f "$STATE/nft-tables.before" | while read -r _ family name; do
    [ -z "$(nft list table "$family" "$name" 2>/dev/null | grep -vE '^\s*(table |chain |type |}|$)')" ] &&
      nft delete table "$family" "$name"
  done
fi
if [ -e "$STATE/ipsets.before" ]; then
  for set in $(ipset list -n 2>/dev/null | grep -E "$OURS" | grep -vxF -f "$STATE/ipsets.before"); do
    ipset destroy "$set" 2>/dev/null
  done
fi

# 6. The pods' cgroups: the parent up.sh made in each hierarchy, bottom-up (empty once their processes are gone).
for cgroup in $(recorded cgroup); do
  [ -d "$cgroup" ] && find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# 7. Kernel settings the kubelet changed.
if [ -e "$STATE/sysctls.before" ]; then
  while IFS='=' read -r key value; do sysctl -qw "$key=$value" 2>/dev/null; done <"$STATE/sysctls.before"
fi

# 8. Proof: nothing of this run is left; exit 1 naming what is. The state (its records) goes last.
left=()
for pidfile in "$STATE"/pids/*.pid; do [ -e "$pidfile" ] && left+=("process $(basename "$pidfile" .pid)"); done
pgrep -f -- "$STATE/" >/dev/null && left+=("processes running from $STATE: $(pgrep -fa -- "$STATE/" | cut -c1-80 | tr '\n' ';')")
ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("link $BRIDGE")
for link in $(recorded link); do ip link show "$link" >/dev/null 2>&1 && left+=("link $link"); done
for ns in $(recorded netns); do ip netns list | grep -qw "$ns" && left+=("network namespace $ns"); done
grep -q " $STATE/" /proc/mounts && left+=("mounts under $STATE")
for cmd in iptables ip6tables; do
  [ -e "$STATE/$cmd.before" ] || continue
  still=$($cmd-save 2>/dev/null | awk '/^:/ {print substr($1, 2)}' | grep -E "$OURS" |
    grep -vxF -f <(awk '/^:/ {print substr($1, 2)}' "$STATE/$cmd.before") | tr '\n' ' ')
  [ -n "$still" ] && left+=("$cmd chains $still")
done
[ -e "$STATE/ipsets.before" ] && [ -n "$(ipset list -n 2>/dev/null | grep -E "$OURS" | grep -vxF -f "$STATE/ipsets.before")" ] &&
  left+=("ipsets")
for cgroup in $(recorded cgroup); do [ -d "$cgroup" ] && left+=("cgroup $cgroup"); done
if [ ${#left[@]} -gt 0 ]; then
  echo "teardown left: ${left[*]}" >&2
  exit 1
fi
find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
echo "cluster at $STATE torn down, nothing of it left (logs kept in $STATE/logs)" >&2

#!/usr/bin/env bash
# Tears the test cluster down and leaves nothing behind: pods first (so the
# kubelet unwinds their network through CNI), then every process up.sh
# started, leftover containers, mounts, network namespaces, the bridge, the
# iptables chains Kubernetes made, the kubelet's cgroups and the kernel
# settings it changed. Safe to run twice, or after a failed up.sh.
# The logs stay in $CLUSTER_STATE/logs for a post-mortem.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.env"
[ -d "$STATE" ] || exit 0
bin=${CLUSTER_BIN:-$("$here/build.sh" 2>/dev/null)}
export PATH="$bin:$PATH"
kc() { kubectl --kubeconfig "$STATE/admin.kubeconfig" --request-timeout 10s "$@"; }

# 1. Pods, gracefully, while the kubelet and containerd still run.
if [ -e "$STATE/pids/kubelet.pid" ] && kc get --raw /readyz >/dev/null 2>&1; then
  for ns in $(kc get ns -o jsonpath='{.items[*].metadata.name}'); do
    case $ns in kube-system | kube-public | kube-node-lease | default) ;; *) kc delete ns "$ns" --wait=false >/dev/null ;; esac
  done
  kc delete deploy,rs,pods --all -n default --grace-period 1 --wait=false >/dev/null 2>&1
  for _ in $(seq 1 60); do
    [ -z "$(kc get pods -A -o name 2>/dev/null)" ] && break
    sleep 1
  done
fi

# 2. The processes, newest first.
for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
  pidfile=$STATE/pids/$name.pid
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
done
# Container shims (and what they run) outlive containerd: stop every one that belongs to this state.
for pid in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK"); do
  pkill -9 -P "$pid" 2>/dev/null
  kill -9 "$pid" 2>/dev/null
done
# kube-proxy's own clean-up of its iptables rules.
kube-proxy --cleanup --proxy-mode iptables >/dev/null 2>&1

# 3. Mounts under the state folder and the pods' network namespaces, deepest first.
awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
for ns in /var/run/netns/cni-*; do
  [ -e "$ns" ] || continue
  # Only the namespaces of this cluster's pods: their veths hang off our bridge.
  if ip netns exec "$(basename "$ns")" true 2>/dev/null; then
    umount -l "$ns" 2>/dev/null
    rm -f "$ns"
  fi
done

# 4. The bridge (its routes go with it) and every veth still attached to it.
for veth in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link del "$veth" 2>/dev/null
done
ip link del "$BRIDGE" 2>/dev/null

# 5. iptables: every KUBE-* and CNI-* chain and every rule that jumps to one, in every table.
for cmd in iptables ip6tables; do
  for table in filter nat mangle raw; do
    saved=$($cmd-save -t "$table" 2>/dev/null) || continue
    if grep -qE 'KUBE-|CNI-' <<<"$saved"; then
      grep -vE 'KUBE-|CNI-' <<<"$saved" | $cmd-restore -T "$table" 2>/dev/null
    fi
  done
done

# 6. The kubelet's cgroups (empty once their processes are gone), bottom-up.
for root in /sys/fs/cgroup/*/; do
  [ -d "$root/kubepods" ] && find "$root/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# 7. Kernel settings the kubelet changed.
if [ -e "$STATE/sysctls.before" ]; then
  while IFS='=' read -r key value; do sysctl -qw "$key=$value" 2>/dev/null; done <"$STATE/sysctls.before"
fi

# 8. Everything but the logs.
find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +

# 9. Proof: nothing of the cluster is left; exit 1 naming what is.
left=()
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  pgrep -f "^$name( |$)" >/dev/null && left+=("process $name")
done
pgrep -f "containerd.*$STATE" >/dev/null && left+=("containerd or a shim of $STATE")
ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("link $BRIDGE")
[ -n "$(ip -o link show type veth 2>/dev/null)" ] && left+=("veth links")
ls /var/run/netns/cni-* >/dev/null 2>&1 && left+=("network namespaces $(ls /var/run/netns/ | tr '\n' ' ')")
grep -q " $STATE/" /proc/mounts && left+=("mounts under $STATE")
iptables-save 2>/dev/null | grep -qE 'KUBE-|CNI-' && left+=("iptables chains")
ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 && left+=("kubepods cgroups")
if [ ${#left[@]} -gt 0 ]; then
  echo "teardown left: ${left[*]}" >&2
  exit 1
fi
echo "cluster at $STATE torn down, nothing left (logs kept in $STATE/logs)" >&2

#!/usr/bin/env bash
# Joins kubemark hollow nodes to the running test cluster: the kubelet's own code
# with a fake container runtime, so pods are scheduled, reach Running and are
# reported Ready, but no container runs (nothing they would serve exists).
# Each hollow node has a network namespace of its own on the cluster's bridge
# (its address above the pods' range, its kubelet's ports its own), a client
# certificate for its node name, and declares HOLLOW_NODE_CPU, HOLLOW_NODE_MEMORY
# and HOLLOW_NODE_EPHEMERAL_STORAGE (kubemark's fake machine has 1 CPU, 3.75 GiB
# and no disk). Its
# mounts stay in the namespace `ip netns exec` gives it. down.sh stops them and
# removes their namespaces and links.
#
#   hollow.sh ZONE:COUNT [ZONE:COUNT...]   e.g. hollow.sh zone-a:2 zone-b:2 zone-c:2
# prints the node names, one per line, once every one is Ready.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.env"
source "$here/lib.sh"
bin=${CLUSTER_BIN:-$("$here/build.sh")}
export PATH="$bin:$PATH"
[ -e "$STATE/pids/kubelet.pid" ] || { echo "no test cluster runs at $STATE (infra/cluster/up.sh)" >&2; exit 1; }

index=$(ls "$STATE/pids" | grep -c '^hollow-' || true)
names=()
for spec in "$@"; do
  zone=${spec%%:*}
  count=${spec##*:}
  for n in $(seq 1 "$count"); do
    index=$((index + 1))
    name=hollow-$zone-$n
    ns=blt-hollow-$index
    veth=blth$index
    sign "$name" "/CN=system:node:$name/O=system:nodes"
    kubeconfig "$name"
    ip netns add "$ns"
    created netns "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    created link "$veth"
    ip link set "$veth" master "$BRIDGE" up
    ip netns exec "$ns" ip addr add "10.244.0.$((HOLLOW_IP_BASE + index))/$POD_PREFIX" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
    mkdir -p "$STATE/hollow/$name"
    # kubemark makes its kubelet's root folder under TMPDIR.
    start "hollow-$name" env TMPDIR="$STATE/hollow/$name" ip netns exec "$ns" kubemark --morph=kubelet \
      --name="$name" --kubeconfig="$STATE/$name.kubeconfig" --kubelet-read-only-port=0 \
      --use-host-image-service=false \
      --node-labels="topology.kubernetes.io/zone=$zone,boltlink.dev/hollow=true" \
      --extended-resources="cpu=$HOLLOW_NODE_CPU,memory=$HOLLOW_NODE_MEMORY,ephemeral-storage=$HOLLOW_NODE_EPHEMERAL_STORAGE"
    names+=("$name")
  done
done
ready() {
  for name in "${names[@]}"; do
    [ "$(kc get node "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] || return 1
  done
}
wait_for "hollow nodes ${names[*]}" 120 ready
printf '%s\n' "${names[@]}"

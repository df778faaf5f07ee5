#!/usr/bin/env bash
# Starts a single-node Kubernetes from the binaries build.sh made: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd (Debian)
# with its CRI plugin, runc and the CNI bridge plugin, kubelet and kube-proxy;
# then metrics-server (the metrics API the HPA reads) and kube-router's network
# policy controller (it enforces NetworkPolicies), both as host processes.
# Everything lives under $CLUSTER_STATE (default /tmp/boltlink-cluster), the
# pods' cgroups under $CGROUP_ROOT and their network namespaces under the state
# folder; down.sh removes what this run made, by name, and nothing else.
# Certificates, keys and kubeconfigs are made here, per run.
#
# Network: pods get 10.244.0.0/24 on the bridge blt0, whose host side is
# 10.244.0.1. Every listening component binds to 127.0.0.1 or 10.244.0.1. Pods
# have routes to their own subnet and the service range only (no default route,
# no masquerade), so nothing leaves the machine. The host reaches ClusterIPs
# through blt0 (kube-proxy's iptables rules).
#
#   up.sh                 start, wait until the node is Ready, print the admin kubeconfig path
#   CLUSTER_BIN=…         where the Kubernetes binaries are (default: what build.sh prints)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.env"
source "$here/lib.sh"

bin=${CLUSTER_BIN:-$("$here/build.sh")}
export PATH="$bin:$PATH"
[ -e "$STATE/pids" ] && { echo "a cluster state exists at $STATE: run infra/cluster/down.sh first" >&2; exit 1; }
# The kubelet evicts every pod once the disk under its state has less than EVICT_DISK_PERCENT free
# (seen on a host whose Docker storage had filled it: pods evicted mid-suite, the pause image
# collected and not to be pulled again). Refuse to start instead, naming the space: a run's images,
# database and logs took 2.4 GiB after this point (measured); RUN_DISK_GIB leaves room over that.
EVICT_DISK_PERCENT=1
RUN_DISK_GIB=6
read -r disk_kib free_kib < <(df -Pk "$(dirname "$STATE")" | awk 'NR == 2 {print $2, $4}')
need_kib=$((disk_kib * EVICT_DISK_PERCENT / 100 + RUN_DISK_GIB * 1024 * 1024))
if [ "$free_kib" -lt "$need_kib" ]; then
  echo "$((free_kib / 1024 / 1024)) GiB free under $(dirname "$STATE"); the test cluster needs $((need_kib / 1024 / 1024)) GiB" \
    "(the kubelet evicts below $EVICT_DISK_PERCENT % of the disk, and a run takes about $RUN_DISK_GIB GiB): free some (docker image prune)" >&2
  exit 1
fi

mkdir -p "$STATE"/{pki,pids,logs,etcd,kubelet,containerd,cni/net.d,cni/ipam}
: >"$STATE/created"
started=$(date +%s)
phase() { echo "[cluster $(($(date +%s) - started)) s] $*" >&2; }

missing=()
for tool in containerd ctr runc openssl iptables-save ip conntrack ipset nft; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ -x "$CNI_BIN/bridge" ] || missing+=("$CNI_BIN/bridge")
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]} (apt-get install containerd runc containernetworking-plugins iptables iproute2 conntrack openssl ipset nftables)" >&2
  exit 1
fi

# The kubelet changes these kernel settings at start (protectKernelDefaults=false); down.sh puts them back.
for key in $KUBELET_SYSCTLS; do echo "$key=$(sysctl -n "$key")"; done >"$STATE/sysctls.before"
# kube-proxy and kube-router program the host's iptables and ipsets: down.sh removes what is there
# then and was not now (their chains' names are made up as they go, KUBE-SVC-<hash> and the like).
for cmd in iptables ip6tables; do $cmd-save >"$STATE/$cmd.before"; done
ipset list -n >"$STATE/ipsets.before"
nft list tables >"$STATE/nft-tables.before"

# ---- certificates (openssl; ECDSA P-256, valid 2 days) ----
newca ca "/CN=boltlink-test-cluster-ca"
# The aggregation layer's own CA: the API server proves with front-proxy-client who it forwards for.
newca front-proxy-ca "/CN=boltlink-test-front-proxy-ca"
sign front-proxy-client "/CN=front-proxy-client" "" clientAuth front-proxy-ca
sign apiserver "/CN=kube-apiserver" \
  "IP:$HOST_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
  serverAuth
sign apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client/O=system:masters"
sign admin "/CN=boltlink-admin/O=system:masters"
sign controller-manager "/CN=system:kube-controller-manager"
sign scheduler "/CN=system:kube-scheduler"
sign kube-proxy "/CN=system:kube-proxy"
sign kubelet "/CN=system:node:$NODE_NAME/O=system:nodes"
sign kubelet-serving "/CN=system:node:$NODE_NAME/O=system:nodes" "IP:$HOST_IP,DNS:$NODE_NAME" serverAuth
sign metrics-server "/CN=system:metrics-server"
sign metrics-server-serving "/CN=metrics-server" "IP:$HOST_IP,DNS:metrics-server.kube-system.svc" serverAuth
sign kube-router "/CN=system:kube-router"
newkey "$pki/sa.key"
openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

for c in admin controller-manager scheduler kube-proxy kubelet metrics-server kube-router; do kubeconfig "$c"; done
phase "certificates and kubeconfigs under $pki"

# ---- the pods' cgroups, under a parent of their own in every hierarchy ----
for hierarchy in /sys/fs/cgroup/*/; do
  [ "$(basename "$hierarchy")" = unified ] && continue
  mkdir -p "$hierarchy$CGROUP_ROOT"
  created cgroup "$hierarchy$CGROUP_ROOT"
done
# A new cpuset cgroup has no CPUs or memory nodes until it is given its parent's.
if [ -e /sys/fs/cgroup/cpuset/cpuset.cpus ]; then
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.mems"
fi

# ---- the pods' network: the bridge's host side first, so components can bind to it ----
ip link add "$BRIDGE" type bridge
created link "$BRIDGE"
ip addr add "$HOST_IP/$POD_PREFIX" dev "$BRIDGE"
ip link set "$BRIDGE" up
# The host reaches ClusterIPs through the bridge (kube-proxy DNATs them to pod IPs).
ip route add "$SERVICE_CIDR" dev "$BRIDGE" src "$HOST_IP"
cat >"$STATE/cni/net.d/10-boltlink.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "boltlink",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "rangeStart": "$POD_RANGE_START", "rangeEnd": "$POD_RANGE_END", "gateway": "$HOST_IP" }]],
        "routes": [{ "dst": "$SERVICE_CIDR" }],
        "dataDir": "$STATE/cni/ipam"
      }
    }
  ]
}
EOF

# ---- etcd ----
start etcd etcd --name boltlink --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "boltlink=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --unsafe-no-fsync --log-level warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
phase "etcd up"

# ---- control plane ----
start kube-apiserver kube-apiserver \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$HOST_IP" --advertise-address "$HOST_IP" --secure-port "$API_PORT" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --requestheader-client-ca-file "$pki/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --allow-privileged=false --profiling=false --v=1
wait_for kube-apiserver 90 kubectl --kubeconfig "$STATE/admin.kubeconfig" get --raw /readyz
phase "kube-apiserver up (https://$HOST_IP:$API_PORT)"

start kube-controller-manager kube-controller-manager \
  --kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --use-service-account-credentials \
  --horizontal-pod-autoscaler-sync-period 5s --v=1
start kube-scheduler kube-scheduler \
  --kubeconfig "$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --v=1

# ---- container runtime ----
cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  # Pods' network namespaces under the state folder, not /var/run/netns: down.sh unmounts them there.
  netns_mounts_under_state_dir = true
  # This machine withholds CAP_SYS_RESOURCE, so nothing may lower an OOM score below its
  # parent's (runc: "failed to update /proc/self/oom_score_adj: Permission denied"):
  # containerd clamps each container's score to its own instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
EOF
start containerd containerd --config "$STATE/containerd/config.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
phase "containerd up"

# ---- images: the pause image (built here: nothing can be pulled), then whatever IMAGES names ----
"$here/images.sh" pause

# ---- node ----
cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $HOST_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
# Not below 0: lowering an OOM score needs CAP_SYS_RESOURCE, which this machine withholds.
oomScoreAdj: 0
# No cluster DNS and no host resolver in pods: they reach PostgreSQL and Redis by IP, and nothing else.
resolvConf: ""
# The sandbox's disk may be nearly full; evict only when it really is.
evictionHard: { memory.available: 100Mi, nodefs.available: $EVICT_DISK_PERCENT%, imagefs.available: $EVICT_DISK_PERCENT%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
start kubelet kubelet --config "$STATE/kubelet/config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
  --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
  --hostname-override "$NODE_NAME" --node-ip "$HOST_IP" --v=1
start kube-proxy kube-proxy --kubeconfig "$STATE/kube-proxy.kubeconfig" --hostname-override "$NODE_NAME" \
  --proxy-mode iptables --cluster-cidr "$POD_CIDR" --conntrack-max-per-core 0 --oom-score-adj 0 \
  --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v=1
node_ready() {
  [ "$(kubectl --kubeconfig "$STATE/admin.kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "node $NODE_NAME Ready" 120 node_ready
phase "node $NODE_NAME Ready"

# ---- metrics-server and the network policy controller, as host processes ----
sed -e "s/__HOST_IP__/$HOST_IP/g" -e "s/__METRICS_SERVER_PORT__/$METRICS_SERVER_PORT/g" \
  -e "s|__CA_BUNDLE__|$(base64 -w0 "$pki/ca.crt")|g" "$here/addons.yaml" | kc apply -f - >/dev/null
# The shortest resolution metrics-server takes: the HPA sees a change of load within two scrapes.
start metrics-server metrics-server \
  --kubeconfig "$STATE/metrics-server.kubeconfig" \
  --authentication-kubeconfig "$STATE/metrics-server.kubeconfig" \
  --authorization-kubeconfig "$STATE/metrics-server.kubeconfig" \
  --bind-address "$HOST_IP" --secure-port "$METRICS_SERVER_PORT" \
  --tls-cert-file "$pki/metrics-server-serving.crt" --tls-private-key-file "$pki/metrics-server-serving.key" \
  --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
  --kubelet-use-node-status-port --metric-resolution 10s --kubelet-request-timeout 5s --v=1
metrics_api() { [ "$(kc get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]; }
wait_for "the metrics API (APIService v1beta1.metrics.k8s.io)" 60 metrics_api
phase "metrics-server up (APIService v1beta1.metrics.k8s.io available)"
# Only the firewall: the bridge CNI wires the pods and kube-proxy the Services.
start kube-router kube-router --kubeconfig "$STATE/kube-router.kubeconfig" --hostname-override "$NODE_NAME" \
  --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false --enable-cni=false \
  --service-cluster-ip-range "$SERVICE_CIDR" --health-port 0 --metrics-port 0 --v=1
wait_for "kube-router's network policy controller" 60 sh -c "iptables-save | grep -q KUBE-ROUTER-FORWARD"
phase "kube-router network policy controller up; admin kubeconfig: $STATE/admin.kubeconfig"
echo "$STATE/admin.kubeconfig"

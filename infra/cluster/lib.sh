# Functions up.sh and hollow.sh share (sourced after cluster.env).
pki=$STATE/pki

newkey() { openssl ecparam -genkey -name prime256v1 -noout -out "$1" 2>/dev/null; }

# sign NAME SUBJECT [SANS] [USAGE] [CA]: a key and a certificate signed by CA (default: the cluster CA), valid 2 days.
sign() {
  local name=$1 subject=$2 sans=${3:-} usage=${4:-clientAuth} ca=${5:-ca}
  newkey "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# newca NAME SUBJECT: a self-signed CA.
newca() {
  newkey "$pki/$1.key"
  openssl req -x509 -new -key "$pki/$1.key" -subj "$2" -days 2 -sha256 -out "$pki/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# kubeconfig NAME: $STATE/NAME.kubeconfig for the client certificate NAME.
kubeconfig() {
  local name=$1 file=$STATE/$1.kubeconfig
  kubectl config set-cluster boltlink-test --server="https://$HOST_IP:$API_PORT" \
    --certificate-authority="$pki/ca.crt" --embed-certs --kubeconfig="$file" >/dev/null
  kubectl config set-credentials "$name" --client-certificate="$pki/$name.crt" --client-key="$pki/$name.key" \
    --embed-certs --kubeconfig="$file" >/dev/null
  kubectl config set-context boltlink-test --cluster=boltlink-test --user="$name" --kubeconfig="$file" >/dev/null
  kubectl config use-context boltlink-test --kubeconfig="$file" >/dev/null
}

# start NAME COMMAND...: a daemon in the background, its pid and log under $STATE (down.sh stops every pid there).
start() {
  local name=$1
  shift
  nohup "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
}

# wait_for WHAT SECONDS COMMAND...
wait_for() {
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$what did not come up within $seconds s; logs in $STATE/logs" >&2
  tail -n 30 "$STATE/logs/"*.log >&2 || true
  exit 1
}

# created KIND NAME: what down.sh removes by name (link, netns, cgroup).
created() { echo "$1 $2" >>"$STATE/created"; }

kc() { kubectl --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

#!/usr/bin/env bash
# Builds the sandbox's binaries (etcd, nats-server, kube-apiserver, kube-controller-manager, kubectl, and prometheus
# and promtool for the alert tests) from their Go
# modules, once, into a cache outside the repo. Idempotent: a binary whose version matches is kept.
# Prints the directory holding the binaries (usable as KUBEBUILDER_ASSETS) on stdout. Progress goes to stderr: which
# binary, the elapsed time, a line at least every 30 s while `go build` runs, and the estimated total up front.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
NATS_VERSION=v2.15.2
PROM_VERSION=v0.316.0   # the Go module version; the binaries print 3.16.0 (Prometheus 3.x is v0.3xx.y as a module)
HEARTBEAT=${LIFEBOAT_BUILD_HEARTBEAT:-25}   # seconds between "still building" lines (the promise is one every 30 s)

if ! command -v go >/dev/null 2>&1; then
  echo "lifeboat: Go is not installed and KUBEBUILDER_ASSETS is not set; install Go >= 1.26 (https://go.dev/dl) or point KUBEBUILDER_ASSETS at kube-apiserver, kube-controller-manager, etcd, nats-server and kubectl binaries" >&2
  exit 3
fi
CACHE=${LIFEBOAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}
OUT="$CACHE/bins/k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}-nats-${NATS_VERSION#v}-$(go env GOOS)-$(go env GOARCH)"
mkdir -p "$OUT"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

minor=$(echo "$K8S_VERSION" | cut -d. -f2)
KLDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KLDF="$KLDF -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

# Prometheus and promtool (for the alert tests) print the version the ldflags give them.
PROM_TEXT=$(echo "${PROM_VERSION#v0.}" | awk -F. '{ printf "%d.%d.%d", int($1 / 100), $1 % 100, $2 }')
PLDF="-s -w"
for v in Version=$PROM_TEXT Revision=gomod-$PROM_VERSION Branch=HEAD BuildUser=lifeboat BuildDate=19700101-00:00:00; do
  PLDF="$PLDF -X github.com/prometheus/common/version.$v"
done

# One row per binary: name|module dir|version text the binary must print|version command|package|ldflags|typical
# seconds for a cold build on 2 cores (measured: a CI run from an empty Go cache, module downloads included; the
# later Kubernetes binaries reuse what the earlier ones compiled).
BINARIES=(
  "etcd|etcd|etcd Version: ${ETCD_VERSION#v}|--version|go.etcd.io/etcd/server/v3|-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=gomod-$ETCD_VERSION|70"
  "nats-server|nats|${NATS_VERSION}|--version|github.com/nats-io/nats-server/v2|-s -w|25"
  "kube-apiserver|kube|Kubernetes $K8S_VERSION|--version|k8s.io/kubernetes/cmd/kube-apiserver|$KLDF|390"
  "kube-controller-manager|kube|Kubernetes $K8S_VERSION|--version|k8s.io/kubernetes/cmd/kube-controller-manager|$KLDF|145"
  "kubectl|kube|Client Version: $K8S_VERSION|version --client|k8s.io/kubernetes/cmd/kubectl|$KLDF|75"
  "prometheus|prometheus|version $PROM_TEXT|--version|github.com/prometheus/prometheus/cmd/prometheus|$PLDF|240"
  "promtool|prometheus|version $PROM_TEXT|--version|github.com/prometheus/prometheus/cmd/promtool|$PLDF|60"
)

current() { # name want version-args: true when the cached binary prints the wanted version
  local have; have=$("$OUT/$1" $3 2>/dev/null || true)   # no pipe: grep -q would SIGPIPE it under pipefail
  [[ "$have" == *"$2"* ]]
}
clock() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

todo=() estimate=0
for row in "${BINARIES[@]}"; do
  IFS='|' read -r name _ want args _ _ typical <<<"$row"
  if ! current "$name" "$want" "$args"; then todo+=("$name"); estimate=$((estimate + typical)); fi
done
if [ ${#todo[@]} -gt 0 ]; then
  echo "lifeboat: building from Go modules into $OUT (once; later runs reuse them): ${todo[*]}" >&2
  echo "lifeboat: estimated total ~$(clock "$estimate") on 2 cores with an empty Go cache (less with more cores or a warm cache)" >&2
fi

start=$SECONDS builder=""
trap '[ -n "$builder" ] && kill "$builder" 2>/dev/null; true' EXIT
step=0
for row in "${BINARIES[@]}"; do
  IFS='|' read -r name dir want args pkg ldflags typical <<<"$row"
  current "$name" "$want" "$args" && continue
  step=$((step + 1))
  echo "lifeboat: [$(clock $((SECONDS - start)))] building $name ($want), ${step}/${#todo[@]}, typically ~$(clock "$typical") ..." >&2
  began=$SECONDS
  # In the background, so that a heartbeat line can say the build is alive while the compiler is silent for minutes.
  ( cd "$HERE/bins/$dir" && exec go build -trimpath -ldflags "$ldflags" -o "$OUT/$name.tmp" "$pkg" ) >&2 &
  builder=$!
  next=$((SECONDS + HEARTBEAT))
  while kill -0 "$builder" 2>/dev/null; do
    sleep 1
    if [ "$SECONDS" -ge "$next" ]; then
      echo "lifeboat: [$(clock $((SECONDS - start)))] still building $name: $(clock $((SECONDS - began))) of typically ~$(clock "$typical")" >&2
      next=$((SECONDS + HEARTBEAT))
    fi
  done
  status=0; wait "$builder" || status=$?
  builder=""
  if [ "$status" -ne 0 ]; then
    echo "lifeboat: building $name failed (go build exit $status); see the output above" >&2
    exit 1
  fi
  mv "$OUT/$name.tmp" "$OUT/$name"
  echo "lifeboat: [$(clock $((SECONDS - start)))] built $name in $((SECONDS - began))s" >&2
done
[ ${#todo[@]} -eq 0 ] || echo "lifeboat: all binaries built in $(clock $((SECONDS - start)))" >&2
echo "$OUT"

#!/usr/bin/env bash
# Builds the sandbox's control-plane binaries (kube-apiserver, kube-controller-manager, etcd) and nats-server
# from their Go modules, once, into a cache outside the repo. Idempotent: a binary whose version matches is kept.
# Prints the directory holding the binaries (usable as KUBEBUILDER_ASSETS). Progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
NATS_VERSION=v2.15.2

if ! command -v go >/dev/null 2>&1; then
  echo "lifeboat: Go is not installed and KUBEBUILDER_ASSETS is not set; install Go >= 1.26 (https://go.dev/dl) or point KUBEBUILDER_ASSETS at kube-apiserver, kube-controller-manager and etcd binaries" >&2
  exit 3
fi
CACHE=${LIFEBOAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}
OUT="$CACHE/bins/k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}-nats-${NATS_VERSION#v}-$(go env GOOS)-$(go env GOARCH)"
mkdir -p "$OUT"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

build() { # name dir version-check-cmd-output-pattern package ldflags
  local name=$1 dir=$2 want=$3 pkg=$4 ldflags=$5
  local have; have=$("$OUT/$name" --version 2>/dev/null || true)   # no pipe: grep -q would SIGPIPE it under pipefail
  if [[ "$have" == *"$want"* ]]; then return 0; fi
  echo "lifeboat: building $name ($want) from Go modules into $OUT ..." >&2
  local start=$SECONDS
  ( cd "$HERE/bins/$dir" && go build -trimpath -ldflags "$ldflags" -o "$OUT/$name.tmp" "$pkg" ) >&2
  mv "$OUT/$name.tmp" "$OUT/$name"
  echo "lifeboat: built $name in $((SECONDS - start))s" >&2
}

minor=$(echo "$K8S_VERSION" | cut -d. -f2)
KLDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KLDF="$KLDF -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
build etcd etcd "etcd Version: ${ETCD_VERSION#v}" go.etcd.io/etcd/server/v3 \
  "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=gomod-$ETCD_VERSION"
build nats-server nats "${NATS_VERSION}" github.com/nats-io/nats-server/v2 "-s -w"
build kube-apiserver kube "Kubernetes $K8S_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$KLDF"
build kube-controller-manager kube "Kubernetes $K8S_VERSION" k8s.io/kubernetes/cmd/kube-controller-manager "$KLDF"
echo "$OUT"

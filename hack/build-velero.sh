#!/usr/bin/env bash
# Builds what bench/velero.ts compares Lifeboat with: velero (CLI and server), its AWS object-store plugin, and
# versitygw (an S3 server over a local directory), from their Go modules via the wrapper modules in hack/bins/,
# once, into a cache outside the repo. Not part of hack/build-bins.sh: CI does not pay for it.
# Skips a binary that already exists. Prints the directory holding the binaries on stdout; progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VELERO_VERSION=v1.18.3
PLUGIN_VERSION=v1.14.3
VERSITYGW_VERSION=v1.8.0

if ! command -v go >/dev/null 2>&1; then
  echo "lifeboat: Go is not installed; install Go >= 1.26 (https://go.dev/dl) to build velero" >&2
  exit 3
fi
CACHE=${LIFEBOAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}
OUT="$CACHE/velero-${VELERO_VERSION}-aws-${PLUGIN_VERSION}-versitygw-${VERSITYGW_VERSION}-$(go env GOOS)-$(go env GOARCH)"
mkdir -p "$OUT"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

# name|module dir|package|ldflags
BINARIES=(
  "versitygw|versitygw|github.com/versity/versitygw/cmd/versitygw|-s -w"
  "velero-plugin-for-aws|velero-plugin-for-aws|github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws|-s -w"
  "velero|velero|github.com/vmware-tanzu/velero/cmd/velero|-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$VELERO_VERSION -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean"
)
start=$SECONDS
for row in "${BINARIES[@]}"; do
  IFS='|' read -r name dir pkg ldflags <<<"$row"
  [ -x "$OUT/$name" ] && continue
  echo "lifeboat: building $name into $OUT ..." >&2
  began=$SECONDS
  ( cd "$HERE/bins/$dir" && go build -trimpath -ldflags "$ldflags" -o "$OUT/$name.tmp" "$pkg" ) >&2 || {
    echo "lifeboat: building $name failed; see the output above" >&2
    exit 1
  }
  mv "$OUT/$name.tmp" "$OUT/$name"
  echo "lifeboat: built $name in $((SECONDS - began))s" >&2
done
echo "lifeboat: done in $((SECONDS - start))s" >&2
echo "$OUT"

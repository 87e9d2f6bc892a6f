#!/usr/bin/env bash
# Builds the image the Containerfile starts FROM, locally, since there is no registry to pull one from: the project's
# own Node.js 24 binary (the `node` devDependency, the same version the tests run), the shared libraries it links
# (ldd), CA certificates, /etc/passwd and /etc/group with the non-root user lifeboat (65532), /tmp and the data
# directory /var/lib/lifeboat, as one rootfs tarball imported with `podman import`. No shell, no package manager.
# Cached: the image carries the hash of its inputs (this script, the binary, the libraries, the certificates) as a
# label, and a build whose inputs hash the same is skipped. Prints the image name on stdout; progress goes to stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The one name, read from the Containerfile's `ARG BASE=` so that the two cannot drift apart.
BASE=$(sed -n 's/^ARG BASE=//p' Containerfile | head -1)
[ -n "$BASE" ] || { echo "lifeboat: no 'ARG BASE=' line in $ROOT/Containerfile" >&2; exit 1; }
USER_ID=65532
log() { echo "lifeboat: base: $*" >&2; }

NODE=node_modules/node/bin/node
[ -x "$NODE" ] || { echo "lifeboat: $ROOT/$NODE is missing: run npm ci first (the image ships the project's own Node.js)" >&2; exit 3; }
NODE=$(readlink -f "$NODE")
command -v podman >/dev/null || { echo "lifeboat: podman is not installed (Debian/Ubuntu: apt-get install podman runc, or node hack/prereqs.ts as root)" >&2; exit 3; }
CA=/etc/ssl/certs/ca-certificates.crt
[ -f "$CA" ] || { echo "lifeboat: $CA is missing (Debian/Ubuntu package ca-certificates)" >&2; exit 3; }

# What the binary links, as ldd resolves it on this machine: "/lib/x86_64-linux-gnu/libc.so.6" and the loader.
mapfile -t LIBS < <(ldd "$NODE" | grep -o '/[^ ]*' | sort -u)
[ ${#LIBS[@]} -gt 0 ] || { echo "lifeboat: ldd $NODE listed no libraries" >&2; exit 1; }
# Contents and the absolute paths they land at, not where this checkout is.
INPUTS=$({ sha256sum <"$ROOT/hack/build-base.sh"; sha256sum <"$NODE"; sha256sum "${LIBS[@]}" "$CA"; } | sha256sum | cut -c1-32)

have=$(podman image inspect --format '{{index .Config.Labels "dev.lifeboat.base.inputs"}}' "$BASE" 2>/dev/null || true)
if [ "$have" = "$INPUTS" ]; then
  log "$BASE is current (inputs $INPUTS)"
  echo "$BASE"
  exit 0
fi

started=$SECONDS
log "building $BASE (inputs $INPUTS; had ${have:-none})"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FS=$WORK/rootfs
mkdir -p "$FS/usr/local/bin" "$FS/etc/ssl/certs" "$FS/tmp" "$FS/var/lib/lifeboat" "$FS/root"
# Debug symbols are a sixth of Node's binary and of no use in production.
if command -v strip >/dev/null; then strip -o "$FS/usr/local/bin/node" "$NODE"; else cp "$NODE" "$FS/usr/local/bin/node"; fi
for lib in "${LIBS[@]}"; do
  mkdir -p "$FS$(dirname "$lib")"
  cp -L "$lib" "$FS$lib"
done
cp -L "$CA" "$FS$CA"
printf 'root:x:0:0:root:/root:/sbin/nologin\nlifeboat:x:%s:%s:lifeboat:/var/lib/lifeboat:/sbin/nologin\n' "$USER_ID" "$USER_ID" >"$FS/etc/passwd"
printf 'root:x:0:\nlifeboat:x:%s:\n' "$USER_ID" >"$FS/etc/group"
# Without this glibc asks DNS before /etc/hosts.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$FS/etc/nsswitch.conf"
chmod 1777 "$FS/tmp"
chmod 0700 "$FS/root"
"$FS/usr/local/bin/node" --version >/dev/null   # the stripped binary still runs

# Everything root-owned, except the data directory, which belongs to the user (an anonymous volume podman makes
# for the VOLUME starts as a copy of it). Sorted, dated at the epoch: the same inputs make the same tarball.
TAR=$WORK/rootfs.tar
common=(--sort=name --mtime=@0 --numeric-owner)
tar -C "$FS" "${common[@]}" --owner=0 --group=0 --exclude=./var/lib/lifeboat -cf "$TAR" .
tar -C "$FS" "${common[@]}" --owner=$USER_ID --group=$USER_ID --no-recursion -rf "$TAR" ./var/lib/lifeboat

version=$("$NODE" --version)
podman import --quiet \
  --change "ENV PATH=/usr/local/bin" \
  --change "ENV SSL_CERT_FILE=$CA" \
  --change "USER $USER_ID:$USER_ID" \
  --change "WORKDIR /var/lib/lifeboat" \
  --change 'CMD ["/usr/local/bin/node"]' \
  --change "LABEL dev.lifeboat.base.inputs=$INPUTS" \
  --change "LABEL org.opencontainers.image.title=lifeboat-base" \
  --change "LABEL org.opencontainers.image.description=Node.js $version and the libraries it links, CA certificates, user lifeboat ($USER_ID)" \
  --change "LABEL org.opencontainers.image.version=$version" \
  "$TAR" "$BASE" >/dev/null
log "built $BASE in $((SECONDS - started))s: $(podman image inspect --format '{{.Size}}' "$BASE") bytes"
echo "$BASE"

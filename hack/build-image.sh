#!/usr/bin/env bash
# Builds the lifeboat image from the Containerfile: the base first (hack/build-base.sh, skipped when current), then
# the production dependencies (`npm ci --omit=dev --ignore-scripts`, once per package-lock.json, into the cache
# outside the repo), then `podman build` with those as the `deps` build context. The tests and the release workflow
# both run this. Podman's flags suit machines whose cgroups refuse crun and the default ulimits: runc (when
# installed; LIFEBOAT_PODMAN_RUNTIME overrides) and nofile/nproc 1024.
# Usage: hack/build-image.sh [IMAGE]   (default $LIFEBOAT_IMAGE, else localhost/lifeboat:dev). Prints IMAGE on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
IMAGE=${1:-${LIFEBOAT_IMAGE:-localhost/lifeboat:dev}}
CACHE=${LIFEBOAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}
log() { echo "lifeboat: image: $*" >&2; }
started=$SECONDS
# One build at a time per cache (two test files, or a test and the README, may build at once): they share the
# dependencies directory and the base's name.
mkdir -p "$CACHE/image"
exec 9>"$CACHE/image/.lock"
flock 9

BASE=$(bash hack/build-base.sh)

# The JavaScript the image runs (dist/, from tsc) and the console's page (src/console/web/dist).
node=$( [ -x node_modules/.bin/node ] && echo node_modules/.bin/node || echo node )
rm -rf dist
"$node" node_modules/typescript/bin/tsc -p tsconfig.build.json >&2
"$node" hack/build-console.ts >&2

# Production dependencies, keyed by what decides them; older sets are removed.
key=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
DEPS=$CACHE/image/deps-$key
if [ ! -f "$DEPS/.complete" ]; then
  log "npm ci --omit=dev into $DEPS"
  rm -rf "$DEPS"
  mkdir -p "$DEPS"
  cp package.json package-lock.json "$DEPS/"
  # No install scripts: the production dependencies have none (the one in the lock file is the node devDependency's).
  (cd "$DEPS" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  # Half of it is TypeScript declarations, sources and source maps: Node never loads TypeScript from node_modules
  # (it refuses to strip types there) and lifeboat runs without --enable-source-maps.
  find "$DEPS/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete
  touch "$DEPS/.complete"
fi
find "$CACHE/image" -maxdepth 1 -name 'deps-*' ! -name "deps-$key" -exec rm -rf {} +

runtime=${LIFEBOAT_PODMAN_RUNTIME:-$(command -v runc || true)}
podman=(podman ${runtime:+--runtime "$runtime"})
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- package.json bin src manifests/crds 2>/dev/null)" ] || revision="$revision-dirty"
previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
"${podman[@]}" build --quiet --pull=never --layers \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host \
  --build-context "deps=$DEPS" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  ${LIFEBOAT_IMAGE_CREATED:+--build-arg "CREATED=$LIFEBOAT_IMAGE_CREATED"} \
  ${LIFEBOAT_IMAGE_SOURCE:+--build-arg "SOURCE=$LIFEBOAT_IMAGE_SOURCE"} \
  -f Containerfile -t "$IMAGE" . >/dev/null
# The image this tag named before, left without a name, is removed (unless a container still uses it).
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ] \
  && [ "$(podman image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
log "built $IMAGE in $((SECONDS - started))s: $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes (base $BASE: $(podman image inspect --format '{{.Size}}' "$BASE"))"
echo "$IMAGE"

#!/usr/bin/env bash
# Builds keyjob's own image (Dockerfile): a static binary built here with
# CGO_ENABLED=0 and the host's CA bundle, on `FROM scratch`, without a
# registry (no base image is pulled).
#
# Usage: scripts/keyjob-image.sh [IMAGE]   (default localhost/keyjob:local)
# Prints the image name on stdout; progress goes to stderr.
set -euo pipefail

image=${1:-localhost/keyjob:local}
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "keyjob-image: $*" >&2; }

command -v docker >/dev/null || {
	log "docker CLI not found"
	exit 1
}
ca=/etc/ssl/certs/ca-certificates.crt
[[ -r $ca ]] || {
	log "no CA bundle at $ca (install ca-certificates): rediss:// needs it in the image"
	exit 1
}

ctx=$(mktemp -d)
buildlog=$(mktemp)
trap 'rm -rf "$ctx" "$buildlog"' EXIT
version=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "go build (CGO_ENABLED=0, $version)"
(cd "$root" && CGO_ENABLED=0 ${GO:-go} build -trimpath \
	-ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
	-o "$ctx/keyjob" ./cmd/keyjob)
cp "$ca" "$ctx/ca-certificates.crt"
log "docker build $image"
# Quiet: docker's output (the legacy builder's notice included) only on failure.
if ! DOCKER_BUILDKIT=0 docker build -q -f "$root/Dockerfile" -t "$image" "$ctx" >"$buildlog" 2>&1; then
	cat "$buildlog" >&2
	log "docker build failed"
	exit 1
fi
echo "$image"

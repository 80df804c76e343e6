#!/usr/bin/env bash
# Builds localhost/keyjob-redis:local, a Redis image for tests on machines
# that cannot pull one: Debian's redis-server and redis-cli, the shared
# libraries they link, and a static busybox (sh, df, ls, ...) for
# `docker exec`, on top of `FROM scratch`, so no base image is pulled.
#
# Usage: scripts/redis-image.sh [--force]
# Skips the build when the image already exists unless --force is given.
# Prints the image name on stdout; progress goes to stderr.
set -euo pipefail

image=localhost/keyjob-redis:local
force=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	-h | --help)
		echo "usage: $0 [--force]" >&2
		exit 0
		;;
	*)
		echo "redis-image: unknown argument $arg (try --force)" >&2
		exit 2
		;;
	esac
done

log() { echo "redis-image: $*" >&2; }

command -v docker >/dev/null || {
	log "docker CLI not found"
	exit 1
}

if [[ $force == 0 ]] && docker image inspect "$image" >/dev/null 2>&1; then
	echo "$image"
	exit 0
fi

# installed reports whether a Debian package is installed.
installed() {
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

missing=()
[[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
installed busybox-static || missing+=(busybox-static)
if ((${#missing[@]})); then
	sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo)
	# shellcheck source=apt-quiet.sh
	source "$(dirname "$0")/apt-quiet.sh"
	apt_install redis-image "${missing[@]}" || exit 1
fi

busybox=/bin/busybox
# A scratch image has no libc for a dynamic busybox: ldd must find nothing.
if ldd "$busybox" >/dev/null 2>&1; then
	log "$busybox is not statically linked (is busybox-static installed?)"
	exit 1
fi

old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/usr/bin" "$root/bin" "$root/data" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"

# redis-server is a symlink to redis-check-rdb on Debian; the binary picks
# its role from argv[0], so copy the content under the name redis-server.
bins=(/usr/bin/redis-server /usr/bin/redis-cli)
for b in "${bins[@]}"; do
	cp -L "$b" "$root$b"
done

# Every library ldd lists ("name => /path (addr)" and the loader "/path (addr)"),
# copied under the path the loader will look for.
libs=$(ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
for lib in $libs; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done

echo 'root:x:0:0:root:/data:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# The loader reads no ld.so.cache here: point it at the library folders.
libpath=$(for lib in $libs; do dirname "$lib"; done | sort -u | paste -sd:)

cat >"$root/Dockerfile" <<DOCKERFILE
FROM scratch
COPY . /
ENV PATH=/usr/bin:/bin LD_LIBRARY_PATH=$libpath
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
DOCKERFILE

printf '%s\n' Dockerfile .dockerignore .build.log >"$root/.dockerignore"

log "building $image from redis-server $(/usr/bin/redis-server --version | awk '{print $3}')"
# The legacy builder: BuildKit needs the buildx plugin, which machines like
# this one lack. Its deprecation notice is noise; show its output on failure.
if ! DOCKER_BUILDKIT=0 docker build -q -t "$image" "$root" >"$root/.build.log" 2>&1; then
	cat "$root/.build.log" >&2
	log "docker build failed"
	exit 1
fi
# A rebuild (--force) leaves the previous image untagged: drop it unless a
# container still uses it.
if [[ -n $old && $old != $(docker image inspect -f '{{.Id}}' "$image") ]]; then
	docker rmi "$old" >/dev/null 2>&1 || true
fi
echo "$image"

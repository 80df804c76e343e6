#!/usr/bin/env bash
# Builds the images of the server matrix (make test-matrix), like
# scripts/redis-image.sh builds today's: FROM scratch, out of Debian's
# packages, so no registry is needed.
#
#   redis-7.0   the machine's own redis-server: scripts/redis-image.sh's
#               image, tagged localhost/keyjob-redis:7.0 as well
#   redis-8.0   Debian 13 "trixie"'s redis      -> localhost/keyjob-redis:8.0
#   valkey-8.1  Debian 13 "trixie"'s valkey     -> localhost/keyjob-valkey:8.1
#   valkey-9    Debian unstable "sid"'s valkey  -> localhost/keyjob-valkey:9.x
#   all         every one of them, in that order
#   redis-6.0   Debian 11 "bullseye"'s redis   -> localhost/keyjob-redis:6.0
#               (not in all: a server keyjob refuses, for the test of
#               that refusal)
#
# A newer server comes with the libraries and the loader of its own suite:
# `apt-get download` fetches the server's package and every library it
# depends on, with a sources list, a package state and a cache of this
# script's own (~/.cache/keyjob/apt, or $KEYJOB_APT_DIR): the machine's apt
# configuration is not changed. The archive is the one the machine's own
# sources name, read at run time. `dpkg-deb -x` unpacks them into the
# image's root, which has nothing of the host but a static busybox: the
# server runs on its suite's glibc, not the host's older one.
#
# In every image the server is /usr/bin/redis-server and its CLI
# /usr/bin/redis-cli (Valkey's under both names), so the test harness
# starts each the same way.
#
# Usage: scripts/server-image.sh [--force] SERVER...
# Prints each image name on stdout; progress goes to stderr. An image that
# exists is not rebuilt unless --force is given. Any failure exits non-zero:
# make test-matrix fails, it never skips a server.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "server-image: $*" >&2; }
# apt's output goes to a log file, not to the screen; its tail is shown on
# failure (apt-quiet.sh).
# shellcheck source=apt-quiet.sh
source scripts/apt-quiet.sh
aptfail() {
	tail -n 20 "$aptlog" >&2
	die "$* (the whole output: $aptlog)"
}
die() {
	log "$*"
	exit 1
}

force=0
servers=()
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 0
		;;
	all) servers+=(redis-7.0 redis-8.0 valkey-8.1 valkey-9) ;;
	redis-6.0 | redis-7.0 | redis-8.0 | valkey-8.1 | valkey-9) servers+=("$arg") ;;
	*) die "unknown server $arg (redis-6.0, redis-7.0, redis-8.0, valkey-8.1, valkey-9, all)" ;;
	esac
done
((${#servers[@]})) || die "usage: $0 [--force] SERVER... (or all)"

command -v docker >/dev/null || die "docker CLI not found"

sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo -n)

# need installs the host tools this script uses when they are missing.
need() {
	local missing=()
	command -v dpkg-deb >/dev/null || missing+=(dpkg)
	command -v apt-get >/dev/null || die "apt-get not found: the images are built from Debian's packages"
	[[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
	[[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
	if ((${#missing[@]})); then
		apt_install server-image "${missing[@]}" || exit 1
	fi
}

# archive prints the Debian archive address the machine's own apt sources
# use for Debian's main suites (deb822 .sources files or one-line .list).
archive() {
	local f uri=""
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -e $f ]] || continue
		uri=$(awk '
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-(security|updates|backports)$/) s = 1 }
			/^Components:/ && u ~ /debian\/?$/ && s { print u; exit }
			/^$/ { u = ""; s = 0 }' "$f")
		[[ -n $uri ]] && break
	done
	if [[ -z $uri ]]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { if ($i ~ /debian\/?$/) { print $i; exit } break } }')
	fi
	[[ -n $uri ]] || die "no Debian archive in /etc/apt/sources.list*: add one (the images are built from Debian's packages)"
	echo "${uri%/}"
}

apt_root=${KEYJOB_APT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyjob/apt}

# suite_apt sets A to the apt options of a suite's private state, and
# refreshes its package lists when they are missing or a day old.
suite_apt() {
	local suite=$1 d=$apt_root/$1
	mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/etc"
	[[ -e $d/status ]] || : >"$d/status"
	A=(-o "Dir::Etc::sourcelist=$d/etc/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State=$d" -o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/status"
		-o "Dir::Cache=$d" -o "Dir::Cache::archives=$d/archives" -o "APT::Architecture=$(dpkg --print-architecture)"
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	local list="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(archive) $suite main"
	if [[ ! -e $d/etc/sources.list ]] || [[ $(cat "$d/etc/sources.list") != "$list" ]] ||
		[[ -z $(find "$d/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null) ]]; then
		echo "$list" >"$d/etc/sources.list"
		log "reading $suite's package lists"
		apt-get -q "${A[@]}" update >>"$aptlog" 2>&1 || aptfail "apt-get update of $suite failed"
	fi
}

# candidate prints the version apt would take of a package in the suite.
candidate() {
	apt-cache "${A[@]}" policy "$1" | awk '/Candidate:/ { print $2 }'
}

# deps prints the package and the library packages it needs, with theirs,
# recursively. Only libraries (and the Lua modules bullseye's Redis 6.0
# links against: lua-cjson, lua-bitop): valkey-tools also depends on
# systemd's tmpfiles helpers, which a server in a container never runs.
deps() {
	local libs
	libs=$(apt-cache "${A[@]}" depends "$1" | awk '$1 ~ /Depends:$/ && $2 ~ /^(lib|zlib|lua-)/ { print $2 }' | sort -u)
	{
		echo "$1"
		# shellcheck disable=SC2086 # one word per package
		apt-cache "${A[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances $libs | awk '/^(lib|zlib|lua-)[a-z0-9]/ { print $1 }'
	} | sort -u
}

# build_debian builds SERVER from SUITE's packages TOOLS (the package that
# holds the binaries) into image IMG.
build_debian() {
	local name=$1 suite=$2 tools=$3 repo=$4 minor=$5
	suite_apt "$suite"
	local ver
	ver=$(candidate "$tools")
	[[ -n $ver && $ver != "(none)" ]] || die "$suite has no package $tools"
	# 5:8.0.2-3+deb13u3 -> 8.0 (or the major alone for valkey-9)
	local tag=${ver#*:}
	tag=${tag%%[-+~]*}
	if [[ $minor == 1 ]]; then tag=$(cut -d. -f1,2 <<<"$tag"); fi
	local img=localhost/keyjob-$repo:$tag
	if [[ $force == 0 ]] && docker image inspect "$img" >/dev/null 2>&1; then
		echo "$img"
		return
	fi
	local work
	work=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: the trap runs after work is gone from scope
	trap "rm -rf '$work'" RETURN

	mapfile -t pkgs < <(deps "$tools")
	((${#pkgs[@]})) || die "no packages for $tools in $suite"
	log "downloading $tools $ver from $suite: ${pkgs[*]}"
	(cd "$work" && apt-get -q "${A[@]}" download "${pkgs[@]}" >>"$aptlog" 2>&1) || aptfail "apt-get download from $suite failed"

	local root=$work/root
	mkdir -p "$root"
	for deb in "$work"/*.deb; do
		dpkg-deb -x "$deb" "$root"
	done
	# Debian 13 and later keep everything under /usr ("merged /usr"): the
	# binaries ask for /lib64/ld-linux-x86-64.so.2.
	for d in lib lib64; do
		[[ -e $root/$d || ! -d $root/usr/$d ]] || ln -s "usr/$d" "$root/$d"
	done
	local bin=$root/usr/bin
	case $repo in
	redis)
		# redis-server is a symlink to redis-check-rdb: the binary picks
		# its role from argv[0], so copy it under the name redis-server.
		cp -L "$bin/redis-check-rdb" "$bin/redis-server.real"
		rm -f "$bin/redis-server"
		mv "$bin/redis-server.real" "$bin/redis-server"
		;;
	valkey)
		cp -L "$bin/valkey-server" "$bin/redis-server.real" 2>/dev/null ||
			cp -L "$bin/valkey-check-rdb" "$bin/redis-server.real"
		rm -f "$bin/redis-server" "$bin/redis-cli"
		mv "$bin/redis-server.real" "$bin/redis-server"
		cp -L "$bin/valkey-cli" "$bin/redis-cli"
		;;
	esac
	[[ -x $bin/redis-server && -x $bin/redis-cli ]] || die "$tools has no server or CLI binary"

	# Run the server inside the root: its loader, its libraries, nothing of
	# the host's (ldd, or the loader run on the host, would find the
	# host's libraries in the default paths and hide a missing one).
	local libdirs
	libdirs=$(find "$root/usr/lib" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
	libdirs=${libdirs//$root/}
	local version b
	for b in redis-server redis-cli; do
		version=$(LD_LIBRARY_PATH=$libdirs "${sudo[@]}" chroot "$root" "/usr/bin/$b" --version 2>&1) ||
			die "$b of $tools from $suite does not run on its suite's libraries: $version"
	done
	version=$(LD_LIBRARY_PATH=$libdirs "${sudo[@]}" chroot "$root" /usr/bin/redis-server --version)
	log "$img: $version"

	# Only what the server and the tests need: binaries, libraries, busybox.
	local img_root=$work/img
	mkdir -p "$img_root/usr/bin" "$img_root/bin" "$img_root/data" "$img_root/tmp" "$img_root/etc"
	chmod 1777 "$img_root/tmp"
	cp -a "$root/usr/lib" "$img_root/usr/lib"
	[[ -d $root/usr/lib64 ]] && cp -a "$root/usr/lib64" "$img_root/usr/lib64"
	cp -a "$root/lib" "$root/lib64" "$img_root/" 2>/dev/null || true
	cp "$bin/redis-server" "$bin/redis-cli" "$img_root/usr/bin/"
	[[ $repo == valkey ]] && ln -s redis-server "$img_root/usr/bin/valkey-server" && ln -s redis-cli "$img_root/usr/bin/valkey-cli"
	rm -rf "$img_root/usr/lib/systemd" "$img_root/usr/lib/tmpfiles.d" "$img_root/usr/lib/sysusers.d"
	finish_image "$img_root" "$img" "$libdirs"
	echo "$img"
}

# finish_image adds busybox and builds IMG from ROOT.
finish_image() {
	local root=$1 img=$2 libpath=$3
	cp /bin/busybox "$root/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
	done
	echo 'root:x:0:0:root:/data:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	cat >"$root/Dockerfile" <<DOCKERFILE
FROM scratch
COPY . /
ENV PATH=/usr/bin:/bin LD_LIBRARY_PATH=$libpath
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
DOCKERFILE
	printf '%s\n' Dockerfile .dockerignore .build.log >"$root/.dockerignore"
	local old
	old=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
	# The legacy builder: BuildKit needs the buildx plugin, which machines
	# like this one lack.
	if ! DOCKER_BUILDKIT=0 docker build -q -t "$img" "$root" >"$root/.build.log" 2>&1; then
		cat "$root/.build.log" >&2
		die "docker build of $img failed"
	fi
	if [[ -n $old && $old != $(docker image inspect -f '{{.Id}}' "$img") ]]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
}

need
for s in "${servers[@]}"; do
	case $s in
	redis-7.0)
		local_img=$(bash scripts/redis-image.sh) || die "scripts/redis-image.sh failed"
		v=$(docker run --rm "$local_img" --version | sed -n 's/.* v=\([0-9]*\.[0-9]*\).*/\1/p')
		[[ -n $v ]] || die "$local_img does not run"
		docker tag "$local_img" "localhost/keyjob-redis:$v"
		echo "localhost/keyjob-redis:$v"
		;;
	redis-6.0) build_debian "$s" bullseye redis-tools redis 1 ;;
	redis-8.0) build_debian "$s" trixie redis-tools redis 1 ;;
	valkey-8.1) build_debian "$s" trixie valkey-tools valkey 1 ;;
	valkey-9) build_debian "$s" sid valkey-tools valkey 1 ;;
	esac
done

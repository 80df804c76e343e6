#!/usr/bin/env bash
# Installs what `make bench` needs on a fresh Debian machine: redis-server
# (the servers under test), redis-tools (redis-benchmark, for the
# gentleness case) and Debian's python3 with python3-redis (the reference).
set -euo pipefail

missing=()
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/redis-benchmark ] || missing+=(redis-tools)
if [ ! -x /usr/bin/python3 ]; then
	missing+=(python3 python3-redis)
elif ! /usr/bin/python3 -c 'import redis' 2>/dev/null; then
	missing+=(python3-redis)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "bench: installing ${missing[*]}" >&2
$sudo apt-get update -qq
# The redis-server package may try to start a service; the bench starts
# its own servers on free ports and does not use it.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs what `make test` needs beyond Go, Docker and the Redis image:
# tmux, which drives the operator-path test in a real terminal. Quiet: one
# line, apt's output in a log file, its tail on failure.
set -euo pipefail
command -v tmux >/dev/null && exit 0
sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo -n)
export DEBIAN_FRONTEND=noninteractive
aptlog=${TMPDIR:-/tmp}/keyjob-apt.log
echo "test-deps: installing tmux (apt's output: $aptlog)" >&2
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends tmux </dev/null >"$aptlog" 2>&1; then
	if ! { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends tmux </dev/null; } >>"$aptlog" 2>&1; then
		tail -n 20 "$aptlog" >&2
		echo "test-deps: apt-get install tmux failed (the whole output: $aptlog)" >&2
		exit 1
	fi
fi

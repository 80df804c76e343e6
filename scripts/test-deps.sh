#!/usr/bin/env bash
# Installs what `make test` needs beyond Go, Docker and the Redis image:
# tmux, which drives the operator-path test in a real terminal. Quiet: one
# line, apt's output in a log file, its tail on failure.
set -euo pipefail
command -v tmux >/dev/null && exit 0
sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo -n)
# shellcheck source=apt-quiet.sh
source "$(dirname "$0")/apt-quiet.sh"
apt_install test-deps tmux

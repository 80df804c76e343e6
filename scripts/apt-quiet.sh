# Sourced by the scripts that install Debian packages (redis-image.sh,
# server-image.sh, test-deps.sh): one line on the screen, apt's output in
# a log file, its tail on failure.
#
# apt_install WHO PKG... installs the packages with the caller's sudo array
# (empty as root), trying the package lists the machine has first and
# refreshing them only when that fails. WHO prefixes its messages.

aptlog=${aptlog:-${TMPDIR:-/tmp}/keyjob-apt.log}

apt_install() {
	local who=$1
	shift
	export DEBIAN_FRONTEND=noninteractive
	echo "$who: installing $* (apt's output: $aptlog)" >&2
	if "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" </dev/null >"$aptlog" 2>&1; then
		return 0
	fi
	if { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" </dev/null; } >>"$aptlog" 2>&1; then
		return 0
	fi
	tail -n 20 "$aptlog" >&2
	echo "$who: apt-get install $* failed (the whole output: $aptlog)" >&2
	return 1
}

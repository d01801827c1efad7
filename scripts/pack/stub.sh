#!/bin/sh
# mlvpn @VERSION@ for @TARGET@, compressed with xz (@UNPACKED_BYTES@ bytes unpacked).
# The first start unpacks the executable once into a directory of its own on a tmpfs
# ($XDG_RUNTIME_DIR, /run, then /tmp: the first one usable), later starts reuse it. Every start
# checks its SHA-256 (a damaged or altered copy is unpacked again), then runs it with exec and
# every argument, so the process id, signals and exit status are mlvpn's own.
#
# Options of this wrapper, removed before mlvpn sees the others:
#   --unpack-dir DIR   unpack into DIR (made if missing, mode 0700); also MLVPN_UNPACK_DIR=DIR
#   --unpack-only      unpack, print the path of the executable and exit
# Needs: sh, tail, xz or unxz (busybox has both), sha256sum, mkdir, chmod, mv (all in busybox).
# Built by scripts/pack.ts; see README.md "Routers".
payload_bytes=@PAYLOAD_BYTES@
sha=@SHA256@
name=mlvpn-@VERSION@-@TARGET@-@SHORT@

die() {
	code=$1
	shift
	echo "mlvpn: $*" >&2
	exit "$code"
}

unpack_dir=${MLVPN_UNPACK_DIR:-}
unpack_only=
pass=
n=$#
while [ "$n" -gt 0 ]; do
	a=$1
	shift
	n=$((n - 1))
	if [ -n "$pass" ]; then
		set -- "$@" "$a"
		continue
	fi
	case $a in
	--unpack-dir)
		[ "$n" -gt 0 ] || die 2 "--unpack-dir needs a directory"
		unpack_dir=$1
		shift
		n=$((n - 1))
		;;
	--unpack-dir=*) unpack_dir=${a#--unpack-dir=} ;;
	--unpack-only) unpack_only=1 ;;
	--)
		pass=1
		set -- "$@" "$a"
		;;
	*) set -- "$@" "$a" ;;
	esac
done

self=$0
[ -r "$self" ] || die 1 "cannot read $self to unpack it"

# sha256sum reads stdin so that no file name is echoed (and escaped) in its output.
sum_of() {
	s=$(sha256sum <"$1" 2>/dev/null) || return 1
	echo "${s%% *}"
}

intact() {
	[ -f "$1" ] && [ ! -L "$1" ] && [ "$(sum_of "$1")" = "$sha" ]
}

# A directory only we can write to: ours, not a symlink, writable by no one else. A missing one
# is made (mode 0700 by the umask); an existing one is never changed.
own_dir() {
	[ -d "$1" ] || mkdir -p "$1" 2>/dev/null || [ -d "$1" ] || return 1
	if [ -L "$1" ] || [ ! -O "$1" ]; then
		echo "mlvpn: $1 is a symlink or not owned by uid $(id -u): not used" >&2
		return 1
	fi
	case $(ls -ld "$1") in
	d????-??-*) return 0 ;;
	esac
	echo "mlvpn: $1 is writable by others: not used" >&2
	return 1
}

# Whether programs can run from the directory (a tmpfs mounted noexec cannot hold mlvpn).
runs_from() {
	p=$1/.probe.$$
	printf '#!/bin/sh\nexit 0\n' >"$p" 2>/dev/null && chmod 700 "$p" && "$p" 2>/dev/null
	r=$?
	rm -f "$p"
	return $r
}

decompress() {
	if command -v xz >/dev/null 2>&1; then
		tail -c "$payload_bytes" "$self" | xz -dc
	elif command -v unxz >/dev/null 2>&1; then
		tail -c "$payload_bytes" "$self" | unxz -c
	elif command -v busybox >/dev/null 2>&1; then
		tail -c "$payload_bytes" "$self" | busybox unxz -c
	else
		echo "mlvpn: needs xz or unxz (busybox) to unpack itself" >&2
		return 1
	fi
}

# Unpacks to a name of this process, then renames: rename(2) is atomic, so starts running at the
# same time each see either no file or a whole one, never a partial one.
unpack() {
	dir=$1
	tmp=$dir/.$name.$$
	trap 'rm -f "$tmp"' EXIT
	trap 'rm -f "$tmp"; exit 130' INT
	trap 'rm -f "$tmp"; exit 143' TERM
	if ! decompress >"$tmp"; then
		rm -f "$tmp"
		echo "mlvpn: unpacking into $dir failed (out of space?)" >&2
		return 1
	fi
	if [ "$(sum_of "$tmp")" != "$sha" ]; then
		rm -f "$tmp"
		die 1 "$self is damaged (the unpacked program's SHA-256 differs): download it again"
	fi
	if ! chmod 700 "$tmp" || ! mv -f "$tmp" "$dir/$name"; then
		rm -f "$tmp"
		return 1
	fi
	trap - EXIT INT TERM
	# Earlier versions' copies and temporary files of starts that were killed.
	for old in "$dir"/mlvpn-*-@TARGET@-* "$dir"/.mlvpn-*-@TARGET@-*.*; do
		[ -e "$old" ] || continue
		[ "$old" = "$dir/$name" ] && continue
		pid=${old##*.}
		case $old in "$dir"/.*) [ -d "/proc/$pid" ] && continue ;; esac
		rm -f "$old"
	done
	return 0
}

start() {
	if [ -n "$unpack_only" ]; then
		echo "$1"
		exit 0
	fi
	f=$1
	shift
	exec "$f" "$@"
}

# Runs mlvpn from directory $1 (unpacking it there first if needed); returns if it cannot.
try_dir() {
	d=$1
	shift
	own_dir "$d" || return 1
	if intact "$d/$name"; then
		start "$d/$name" "$@"
	fi
	if ! runs_from "$d"; then
		echo "mlvpn: $d does not allow running programs (mounted noexec?): not used" >&2
		return 1
	fi
	unpack "$d" && start "$d/$name" "$@"
	return 1
}

umask 077
if [ -n "$unpack_dir" ]; then
	try_dir "$unpack_dir" "$@"
	die 1 "cannot unpack into $unpack_dir"
fi
uid=$(id -u)
for base in "${XDG_RUNTIME_DIR:-}" /run /tmp; do
	if [ -n "$base" ] && [ -d "$base" ] && [ -w "$base" ]; then
		try_dir "$base/mlvpn-unpacked-$uid" "$@"
	fi
done
die 1 "found no directory to unpack into (\$XDG_RUNTIME_DIR, /run, /tmp); give one with --unpack-dir DIR"

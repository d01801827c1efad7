#!/usr/bin/env bash
# Runs the whole suite N times, each on a fresh clone of the committed HEAD, as CI does (CI=true,
# npm ci, npm test, as root), and says which runs failed and which tests.
#
#   sudo scripts/flake-check.sh [--hog] [N]        (N defaults to 10)
#
# --hog: a busy loop holds one core for the whole check (the machine has two), so timing under
#        CPU load is part of what is checked.
# Each run's full output is kept in $FLAKE_LOG_DIR (default /tmp/mlvpn-flake-<time>), run-K.log,
# with run-K.skips (the SKIP-REASON lines, see test/helpers/skip.ts) and run-K.check. A skipped test counts as a
# failure of its run, as in .ci/run. Exit status: 0 if every run passed, 1 otherwise.
set -euo pipefail
hog=0
runs=10
for a in "$@"; do
  case "$a" in
    --hog) hog=1 ;;
    ''|*[!0-9]*) echo "usage: $0 [--hog] [N]" >&2; exit 2 ;;
    *) runs="$a" ;;
  esac
done
[ "$runs" -ge 1 ] || { echo "N must be at least 1" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: run as root (the suite's network-namespace tests need it; CI runs as root)" >&2; exit 2; }

repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="$(git -C "$repo" rev-parse --short HEAD)"
logs="${FLAKE_LOG_DIR:-/tmp/mlvpn-flake-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$logs"
work="$(mktemp -d /tmp/mlvpn-flake-clone.XXXXXX)"
# As readable as an ordinary checkout: tests that drop to nobody run code from it.
chmod 755 "$work"
hog_pid=""
cleanup() {
  if [ -n "$hog_pid" ]; then kill "$hog_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$hog" = 1 ]; then
  # A shell busy loop: one core at 100 % until the check ends.
  bash -c 'while :; do :; done' &
  hog_pid=$!
fi
if ! git -C "$repo" diff --quiet HEAD; then
  echo "note: uncommitted changes in $repo are not part of the check (it clones HEAD)" >&2
fi

echo "flake check: $runs run(s) of npm test on fresh clones of $commit$([ "$hog" = 1 ] && echo ", with a CPU hog on one core"); logs in $logs"
failed_runs=0
total_pass=0 total_fail=0
for k in $(seq 1 "$runs"); do
  clone="$work/run-$k"
  log="$logs/run-$k.log"
  skips="$logs/run-$k.skips"
  rm -f "$skips"
  started=$(date +%s)
  status=0
  {
    git clone -q "$repo" "$clone"
    cd "$clone"
    npm ci --no-audit --no-fund --loglevel=error
    CI=true MLVPN_SKIP_LOG="$skips" timeout 1800 npm test
  } >"$log" 2>&1 || status=$?
  cd "$repo"
  pass=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | tr -dc 0-9 || true)
  fail=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | tr -dc 0-9 || true)
  pass=${pass:-0} fail=${fail:-0}
  skipped=0
  scripts/check-skips.sh "$log" "$skips" >"$logs/run-$k.check" 2>&1 || skipped=1
  total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail))
  verdict=passed
  if [ "$status" != 0 ] || [ "$fail" != 0 ] || [ "$skipped" = 1 ] || [ "$pass" = 0 ]; then
    verdict=FAILED
    failed_runs=$((failed_runs + 1))
  fi
  echo "run $k/$runs: $verdict — $pass pass, $fail fail, exit $status$([ "$skipped" = 1 ] && echo ", tests skipped"), $(( $(date +%s) - started )) s ($log)"
  if [ "$verdict" = FAILED ]; then
    grep -E '^\(fail\)' "$log" | sort -u | sed 's/^/    /' || true
    if [ "$skipped" = 1 ]; then sed 's/^/    /' "$logs/run-$k.check"; fi
    if [ "$pass" = 0 ]; then tail -5 "$log" | sed 's/^/    | /'; fi
  fi
  rm -rf "$clone"
done
echo "total: $((runs - failed_runs))/$runs runs passed at $commit ($total_pass tests passed, $total_fail failed)"
[ "$failed_runs" = 0 ]

#!/usr/bin/env bash
# Fails if a test run skipped anything: used by .ci/run and scripts/flake-check.sh, where (as
# root, with the Debian packages of .ci/run installed) every test should run.
#   scripts/check-skips.sh OUTPUT SKIPLOG
# OUTPUT: what `npm test` printed (bun's summary has "N skip" / "N todo" lines when any);
# SKIPLOG: the file named by MLVPN_SKIP_LOG, where test/helpers/skip.ts writes one
# "SKIP-REASON: file: what: why" line per skip (may be absent: nothing was skipped).
set -euo pipefail
out="$1" skips="$2"
bad=0
if [ -s "$skips" ]; then
  echo "tests skipped that must run here:" >&2
  sed 's/^/  /' "$skips" >&2
  bad=1
fi
# A skip or todo that did not go through test/helpers/skip.ts still shows in bun's summary.
if counts=$(grep -E '^ *[1-9][0-9]* (skip|todo)$' "$out"); then
  echo "bun's summary counts skipped tests:" >&2
  while read -r line; do echo "  $line" >&2; done <<<"$counts"
  bad=1
fi
exit "$bad"

#!/usr/bin/env bash
# A long fuzzing run: runs one target for a while, grows its committed corpus with what it found,
# minimizes that corpus (cargo fuzz cmin) and appends the run's figures to fuzz/runs.log.
#
# Usage: bash fuzz/long.sh TARGET SECONDS     (from anywhere in the repository)
#
# The totals per target (hours, executions) are summed from fuzz/runs.log into
# docs/conformance.md. A crashing input is saved under fuzz/artifacts/TARGET/ and the script
# exits non-zero. Needs the nightly toolchain and cargo-fuzz (fuzz/smoke.sh installs it).
set -euo pipefail

cd "$(dirname "$0")"
target="$1"
seconds="$2"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new"

cargo +nightly fuzz build "$target" >/dev/null 2>&1 || cargo +nightly fuzz build "$target"

status=0
cargo +nightly fuzz run "$target" "$work/new" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2>"$work/log" || status=$?
executions="$(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}' | tail -n 1)"
if [ "$status" -ne 0 ]; then
    tail -n 60 "$work/log" >&2
    echo "$(date -u +%F) $target $seconds s: CRASH (exit $status) after ${executions:-?} executions" >>runs.log
    exit "$status"
fi

# Keep what was found, then minimize the whole corpus in place.
before="$(ls "corpus/$target" | wc -l)"
cp -n "$work/new/"* "corpus/$target/" 2>/dev/null || true
cargo +nightly fuzz cmin "$target" "corpus/$target" >"$work/cmin.log" 2>&1
after="$(ls "corpus/$target" | wc -l)"
echo "$(date -u +%F) $target ${seconds} s ${executions} executions corpus ${before}->${after}" >>runs.log
tail -n 1 runs.log

#!/usr/bin/env bash
# Fuzz smoke test: builds every fuzz target and runs each for a short while on the committed seed
# corpus. Exits non-zero if a build fails or any target crashes (libFuzzer's exit status).
#
# Usage: bash fuzz/smoke.sh            (from anywhere in the repository)
#   FUZZ_SECONDS=20  seconds per target (default 20; seven targets, so ~140 s plus the build)
#
# Needs rustup with a nightly toolchain; installs cargo-fuzz from crates.io when it is missing.
# New inputs go to a temporary directory, so the committed corpus is left as it is. A crashing
# input is saved under fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
targets=(frame_decoder handshake_request handshake_response connection utf8 deflate session_pair)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "smoke.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
    echo "== $target (${seconds}s)" >&2
    mkdir -p "$work/$target"
    # -timeout/-rss_limit_mb: a hang or a memory blow-up also counts as a failure.
    if ! cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"$work/$target.log"; then
        tail -n 60 "$work/$target.log" >&2
        failed+=("$target")
    else
        grep -E '^(Done|stat::number_of_executed_units)' "$work/$target.log" >&2 || true
    fi
done

if ((${#failed[@]})); then
    echo "smoke.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "smoke.sh: all ${#targets[@]} targets ran ${seconds}s without a crash" >&2

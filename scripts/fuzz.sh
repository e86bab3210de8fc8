#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer, no sanitizer, on the stable toolchain
# through RUSTC_BOOTSTRAP=1): each for SECONDS (default 60), starting from the corpus kept in
# fuzz/corpus/<target>. New inputs go to a scratch directory (FUZZ_SCRATCH, default a temp
# dir), so a run leaves the repository unchanged; a crash is saved under
# fuzz/artifacts/<target>/ and fails the script.
#
#   scripts/fuzz.sh                      # every target, 60 s each (part of scripts/test.sh)
#   scripts/fuzz.sh 1200 sql eval        # a long run of two targets
#
# FUZZ_SEED=N makes a run repeatable (scripts/test.sh sets 1, so CI explores the same inputs
# each time and fails only on a real regression); unset, each run explores new inputs.
# cargo-fuzz is installed once into the cache outside the clone (like tansu).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(sql eval template rule_file mqtt_frames)
fi

cache="${RULEWIRE_CACHE_DIR:-$HOME/.cache/rulewire}"
if ! command -v cargo-fuzz >/dev/null; then
    if [ ! -x "$cache/cargo-fuzz/bin/cargo-fuzz" ]; then
        echo "installing: cargo-fuzz into $cache/cargo-fuzz"
        cargo install cargo-fuzz --locked --root "$cache/cargo-fuzz"
    fi
    export PATH="$cache/cargo-fuzz/bin:$PATH"
fi

export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-$cache/target}"
scratch="${FUZZ_SCRATCH:-$(mktemp -d)}"
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "fuzz/corpus/$target"
    echo "fuzzing $target for ${seconds}s"
    log="$scratch/$target.log"
    status=0
    (cargo fuzz run --sanitizer none --target-dir "$target_dir" "$target" \
        "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
        -print_final_stats=1 ${FUZZ_SEED:+-seed="$FUZZ_SEED"}) >"$log" 2>&1 || status=$?
    grep -E "^stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$log" | sed "s/^/  $target /" || true
    if [ "$status" != 0 ]; then
        # The failing input's bytes can be huge: show the fuzzer's report, not the whole dump.
        grep -vE "^\s+[0-9]+: |^\s+at " "$log" | tail -n 40 | cut -c1-300 >&2
        echo "fuzz target $target failed (exit $status); a failing input is saved under fuzz/artifacts/$target/" >&2
        exit 1
    fi
done

#!/usr/bin/env bash
# Issue 14's benchmark (`embedded.sh`) run ROUNDS times per binary, the binaries alternated
# within each round, and judged against the issue's two targets run by run: rules / relay
# delivered per second at max rate >= 0.8, and the rules' added p99 at half the relay's rate
# < 5 ms. One run of one binary says little on a shared VM (BENCHMARKS.md: the same binary's
# ratio moves by 0.1-0.2 between runs), so compare binaries by their spread over many runs.
# Prints a line per run (with rulewire's and the load generator's CPU per message in each
# step, to tell a slower machine from a slower rulewire) and a summary per binary, which also
# gives the bracketed ratio (the rules rate over the mean of the relay rates measured before
# and after it, which cancels a steady drift of the VM's speed) and the ratio over the runs
# where the machine was equally fast in both max-rate steps (the load generator's CPU per
# message within 10 %): on a VM whose speed drifts between steps those measure rulewire
# (BENCHMARKS.md, stops 43 and 44).
# Pause other work on the machine (compilers) while it runs: it measures whole-machine speed.
# Usage: bench-results/embedded-runs.sh ROUNDS path/to/rulewire [path/to/other/rulewire...]
#        (DUR, default 8s, and METRICS_PORT are passed to embedded.sh; results in $OUT)
set -euo pipefail
ROUNDS=$1; shift
OUT=${OUT:-/tmp/rw-embedded-runs}
export DUR=${DUR:-8s}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT"; mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for b in $(seq 1 $#); do
        bin=${!b}
        run="$OUT/$b-$round"
        OUT=$run "$HERE/embedded.sh" "$bin" > "$run.txt" 2> "$run.log"
        echo "$bin" > "$run/binary"
        python3 "$HERE/embedded_runs.py" line "$run"
    done
done
python3 "$HERE/embedded_runs.py" summary "$OUT"/*-*/

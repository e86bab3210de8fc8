#!/usr/bin/env bash
# The embedded broker relaying alone (no rule on the path), one fresh `rulewire run` per call:
# `rulewire bench --baseline` at max rate for 8 s with embedded.sh's configuration. Prints
# delivered/s and rulewire's CPU per delivered message. Alternate binaries to compare them:
#   for i in 1 2 3; do bench-results/relay.sh A; bench-results/relay.sh B; done
# Usage: bench-results/relay.sh path/to/release/rulewire
set -euo pipefail
BIN=$1
OUT=$(mktemp -d)
PORT=${PORT:-18860}
. "$(dirname "$0")/common.sh"
mkdir -p "$OUT/rules"
rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql"
write_embedded_rulewire_toml relay-bench
start_rulewire "$BIN"
c0=$(cpu $RW)
"$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections 4 --payload "$PAYLOAD" \
    --duration 8s --warmup 1s --drain 2s --json --topic 'relay/{conn}/data' --baseline --rate 0 \
    > "$OUT/relay.json"
c1=$(cpu $RW)
python3 -c "import json; d = json.load(open('$OUT/relay.json'))['delivered_per_sec']; \
print(f'$BIN delivered/s {d:.0f} rulewire CPU per message {($c1 - $c0) / (d * 9) * 1e6:.1f} us')"

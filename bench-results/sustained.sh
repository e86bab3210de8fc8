#!/usr/bin/env bash
# Sustained throughput (issue 13): the highest paced rate each configuration keeps up with.
# publisher -> Mosquitto -> rulewire -> action -> meter, QoS 0, 4 connections, one step per
# rate (DUR each, after a 1 s warmup); a step "keeps up" when at least 99 % of what was sent
# arrived within the drain and the p99 latency stays under 1 s (no growing backlog).
# ACTION=republish (out/<room>, metered by subscription) or http (the bench's --http-listen);
# the action runs unbuffered (memory) and behind a disk buffer (disk), alternating per rate,
# each on a fresh Mosquitto and rulewire, so that each pair shares the machine's mood.
# RATES=0 is a flood: the publishers as fast as they go (max offered rate).
# Usage: RATES="20000 25000 30000" ACTION=http bench-results/sustained.sh [release rulewire]
set -euo pipefail
BIN=${1:-target/release/rulewire}
OUT=${OUT:-/tmp/rw-sustained}
DUR=${DUR:-10s}
DRAIN=${DRAIN:-5s}
CONNS=${CONNS:-4}
PORT=${PORT:-18880}
HTTP_PORT=${HTTP_PORT:-18881}
ACTION=${ACTION:-http}
RATES=${RATES:-"20000 25000 30000"}
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
write_mosquitto_conf
write_rulewire_toml rulewire-sustained

action_rule() {
    if [ "$ACTION" = http ]; then
        printf -- '-- [[action]]\n-- type = "http"\n-- url = "http://127.0.0.1:%s/ingest/${topic(2)}"\n' "$HTTP_PORT"
    else
        printf -- '-- [[action]]\n-- type = "republish"\n-- topic = "out/${topic(2)}"\n-- qos = 0\n'
    fi
    if [ "$1" = disk ]; then printf -- '-- buffer = { type = "disk" }\n'; fi
    printf 'SELECT *, topic(2) AS room FROM %s\n' "'sensors/+/data'"
}
meter_args() {
    if [ "$ACTION" = http ]; then echo "--http-listen 127.0.0.1:$HTTP_PORT"; else echo "--subscribe out/#"; fi
}

MOSQ=""
RW=""
trap 'kill ${MOSQ:+$MOSQ} ${RW:+$RW} 2>/dev/null || true' EXIT
: > "$OUT/cpu.txt"
step() {
    local buffer=$1 rate=$2
    rm -rf "$OUT/data" "$OUT"/rules/*.sql
    action_rule "$buffer" > "$OUT/rules/bench.sql"
    mosquitto -c "$OUT/mosquitto.conf" >>"$OUT/mosquitto.log" 2>&1 & MOSQ=$!
    sleep 0.5
    "$BIN" run --config "$OUT/rulewire.toml" >"$OUT/rulewire.log" 2>&1 &
    RW=$!
    sleep 2
    local name="$ACTION-$buffer-$rate" r0; r0=$(cpu "$RW")
    echo "== $name" >&2
    # shellcheck disable=SC2046
    "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" \
        --topic 'sensors/{conn}/data' $(meter_args) --duration "$DUR" --warmup 1s --drain "$DRAIN" \
        --rate "$rate" --json --quiet > "$OUT/$name.json"
    echo "$name: rulewire $(python3 -c "print(round($(cpu "$RW") - $r0, 2))") s CPU" >> "$OUT/cpu.txt"
    kill "$RW" "$MOSQ"; wait "$RW" "$MOSQ" 2>/dev/null || true; RW=""; MOSQ=""
}
for rate in $RATES; do step memory "$rate"; step disk "$rate"; done

python3 - "$OUT" "$ACTION" "$RATES" <<'PY'
import json, sys, os
out, action, rates = sys.argv[1], sys.argv[2], sys.argv[3].split()
for rate in rates:
    for buffer in ["memory", "disk"]:
        s = json.load(open(os.path.join(out, f"{action}-{buffer}-{rate}.json")))
        l = s["latency_ms"] or {}
        keeps = s["received"] >= 0.99 * s["expected"] and l.get("p99", 1e9) < 1000
        print(f"{action:9} {buffer:6} offered {s['sent_per_sec']:>8.0f}/s delivered {s['delivered_per_sec']:>8.0f}/s "
              f"lost {s['loss_pct']:6.2f}% p50 {l.get('p50', 0):8.2f} p99 {l.get('p99', 0):8.2f} ms "
              f"{'keeps up' if keeps else 'FALLS BEHIND'}")
PY
cat "$OUT/cpu.txt"

#!/usr/bin/env bash
# End-to-end benchmark for issue 5: publisher -> Mosquitto -> rulewire -> republish ->
# Mosquitto -> subscriber, QoS 0, against Mosquitto alone (--baseline).
# Usage: bench-results/e2e.sh [path/to/release/rulewire]   (results in $OUT, default /tmp/rw-e2e)
# RULES=1000 loads 1000 rules over distinct filters sensors/r<i>/data and publishes each
# message to one of them at random (the many-rule memory and throughput run).
set -euo pipefail
BIN=${1:-target/release/rulewire}
OUT=${OUT:-/tmp/rw-e2e}
DUR=${DUR:-10s}
CONNS=${CONNS:-4}
PORT=${PORT:-18830}
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
write_mosquitto_conf
RULES=${RULES:-1}
rm -f "$OUT"/rules/*.sql
TOPIC='sensors/{conn}/data'
if [ "$RULES" = 1 ]; then
    rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql"
else
    for i in $(seq 0 $((RULES - 1))); do rule "*, topic(2) AS room FROM 'sensors/r$i/data'" > "$OUT/rules/r$i.sql"; done
    TOPIC="sensors/r{rand:0..$((RULES - 1))}/data"
fi
write_rulewire_toml rulewire-e2e

start_mosquitto() { mosquitto -c "$OUT/mosquitto.conf" >>"$OUT/mosquitto.log" 2>&1 & MOSQ=$!; sleep 0.5; }
MOSQ=""
RW=""
trap 'kill ${MOSQ:+$MOSQ} ${RW:+$RW} 2>/dev/null || true' EXIT
bench() { "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" --topic "$TOPIC" \
    --duration "$DUR" --warmup 1s --drain 3s --json "$@"; }
rss() { grep VmRSS "/proc/$1/status" | awk '{print $2}'; }
# Runs one bench step and appends the CPU each process spent during it to cpu.txt.
step() {
    local name=$1; shift
    local m0 r0; m0=$(cpu "$MOSQ"); r0=${RW:+$(cpu "$RW")}
    bench "$@" > "$OUT/$name.json"
    echo "$name: mosquitto $(python3 -c "print(round($(cpu "$MOSQ") - $m0, 2))") s${RW:+, rulewire $(python3 -c "print(round($(cpu "$RW") - $r0, 2))") s} CPU" >> "$OUT/cpu.txt"
}
: > "$OUT/cpu.txt"
json() { python3 -c "import json;print(json.load(open('$1'))['$2'])"; }

start_mosquitto
echo "== (a) baseline, max rate" >&2
step a-baseline-max --baseline --rate 0
HALF=$(python3 -c "print(int($(json "$OUT/a-baseline-max.json" delivered_per_sec)/2))")
echo "== (c) baseline, rate $HALF" >&2
step c-baseline-half --baseline --rate "$HALF"

"$BIN" run --config "$OUT/rulewire.toml" >"$OUT/rulewire.log" 2>&1 &
RW=$!
sleep 2
echo "rulewire pid $RW idle RSS kB: $(rss $RW)" | tee "$OUT/rss.txt" >&2
echo "== (c) through rulewire, rate $HALF" >&2
step c-rules-half --subscribe 'out/#' --rate "$HALF"
echo "== (b) through rulewire, max rate" >&2
( for i in $(seq 1 12); do sleep 1; echo "t+${i}s RSS kB: $(rss $RW)"; done ) >> "$OUT/rss.txt" &
SAMPLER=$!
step b-rules-max --subscribe 'out/#' --rate 0
wait $SAMPLER
echo "after load RSS kB: $(rss $RW); mosquitto RSS kB: $(rss $MOSQ)" >> "$OUT/rss.txt"
kill $RW $MOSQ; wait $RW $MOSQ 2>/dev/null || true; RW=""
# a fresh Mosquitto: the max-rate run above leaves a backlog queued for rulewire
start_mosquitto
echo "== (a') baseline again, max rate" >&2
step a2-baseline-max --baseline --rate 0

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
for name in ["a-baseline-max", "b-rules-max", "a2-baseline-max", "c-baseline-half", "c-rules-half"]:
    s = json.load(open(os.path.join(out, name + ".json")))
    l = s["latency_ms"] or {}
    print(f"{name:16} sent/s {s['sent_per_sec']:>9.0f} delivered/s {s['delivered_per_sec']:>9.0f} "
          f"lost {s['lost']:>7} ({s['loss_pct']:.2f}%) dup {s['duplicates']} "
          f"p50 {l.get('p50', 0):.3f} p90 {l.get('p90', 0):.3f} p99 {l.get('p99', 0):.3f} max {l.get('max', 0):.3f} ms")
PY
cat "$OUT/rss.txt" "$OUT/cpu.txt"

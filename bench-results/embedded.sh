#!/usr/bin/env bash
# Issue 14's benchmark, in one rulewire run with its embedded broker (rmqtt) and the e2e
# republish rule loaded: (a) the broker relaying publisher -> subscriber on topics no rule
# reads (relay/<conn>/data), then (b) publisher -> broker -> rule -> republish -> subscriber
# (sensors/<conn>/data -> out/<conn>), both at max rate, then both again at half the relay's
# rate for the latency. QoS 0, 4 publisher connections.
# RULE_BODY replaces the rule's SELECT body (it must keep seq and ts, which the meter reads),
# BENCH_PAYLOAD the payload template.
# Usage: bench-results/embedded.sh [path/to/release/rulewire]   (results in $OUT)
set -euo pipefail
BIN=${1:-target/release/rulewire}
OUT=${OUT:-/tmp/rw-embedded}
DUR=${DUR:-10s}
CONNS=${CONNS:-4}
PORT=${PORT:-18850}
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
rm -f "$OUT"/rules/*.sql
PAYLOAD=${BENCH_PAYLOAD:-$PAYLOAD}
rule "${RULE_BODY:-*, topic(2) AS room FROM 'sensors/+/data'}" > "$OUT/rules/bench.sql"
write_embedded_rulewire_toml rulewire-embedded-bench
bench() { "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" \
    --duration "$DUR" --warmup 1s --drain 3s --json "$@"; }
step() {
    local name=$1; shift
    local r0; r0=$(cpu "$RW")
    bench "$@" > "$OUT/$name.json"
    echo "$name: rulewire $(python3 -c "print(round($(cpu "$RW") - $r0, 2))") s CPU, RSS $(rss "$RW") kB" >> "$OUT/cpu.txt"
}
: > "$OUT/cpu.txt"
json() { python3 -c "import json;print(json.load(open('$1'))['$2'])"; }

start_rulewire "$BIN"
echo "idle RSS kB: $(rss $RW)" >> "$OUT/cpu.txt"
echo "== (a) relay, max rate" >&2
step a-relay-max --topic 'relay/{conn}/data' --baseline --rate 0
echo "== (b) rules, max rate" >&2
step b-rules-max --topic 'sensors/{conn}/data' --subscribe 'out/#' --rate 0
HALF=$(python3 -c "print(int($(json "$OUT/a-relay-max.json" delivered_per_sec)/2))")
echo "== (c) relay, rate $HALF" >&2
step c-relay-half --topic 'relay/{conn}/data' --baseline --rate "$HALF"
echo "== (d) rules, rate $HALF" >&2
step d-rules-half --topic 'sensors/{conn}/data' --subscribe 'out/#' --rate "$HALF"

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
for name in ["a-relay-max", "b-rules-max", "c-relay-half", "d-rules-half"]:
    s = json.load(open(os.path.join(out, name + ".json")))
    l = s["latency_ms"] or {}
    print(f"{name:14} sent/s {s['sent_per_sec']:>9.0f} delivered/s {s['delivered_per_sec']:>9.0f} "
          f"lost {s['lost']:>7} ({s['loss_pct']:.2f}%) dup {s['duplicates']} "
          f"p50 {l.get('p50', 0):.3f} p90 {l.get('p90', 0):.3f} p99 {l.get('p99', 0):.3f} max {l.get('max', 0):.3f} ms")
a = json.load(open(os.path.join(out, "a-relay-max.json")))["delivered_per_sec"]
b = json.load(open(os.path.join(out, "b-rules-max.json")))["delivered_per_sec"]
print(f"rules / relay at max rate: {b / a:.2f}")
PY
cat "$OUT/cpu.txt"

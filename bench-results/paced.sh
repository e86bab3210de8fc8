#!/usr/bin/env bash
# Paced end-to-end run: rulewire's CPU per message and the latency it adds, at a fixed rate
# below saturation (where CPU per message is comparable between builds).
# publisher -> Mosquitto -> rulewire -> republish (QoS 0) -> Mosquitto -> subscriber.
#
# Usage: bench-results/paced.sh path/to/release/rulewire RATE [RULESET]
#   RULESET: one   (default) one rule:  SELECT *, topic(2) AS room FROM 'sensors/+/data'
#            group5          that rule plus four on the same filter whose WHERE never holds
#                            (one output per message; the five share a decode)
#            many1000        1000 rules over distinct filters sensors/r<i>/data, each message
#                            to one of them at random
# BASELINE=1 also runs Mosquitto alone at the same rate (to subtract its latency).
# QOS=1 publishes at QoS 1 (rulewire then acks every message to the broker); default 0.
# Prints one line per run; files in $OUT (default /tmp/rw-paced).
set -euo pipefail
BIN=$1
RATE=$2
RULESET=${3:-one}
OUT=${OUT:-/tmp/rw-paced}
DUR=${DUR:-15s}
CONNS=${CONNS:-4}
QOS=${QOS:-0}
PORT=${PORT:-18840}
mkdir -p "$OUT/rules"
rm -f "$OUT"/rules/*.sql
. "$(dirname "$0")/common.sh"
TOPIC='sensors/{conn}/data'
case "$RULESET" in
one) rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql" ;;
group5)
    rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql"
    rule "temperature, humidity FROM 'sensors/+/data' WHERE temperature > 1000" > "$OUT/rules/hot.sql"
    rule "VALUE battery FROM 'sensors/+/data' WHERE battery < 0" > "$OUT/rules/battery.sql"
    rule "device, location.floor AS floor FROM 'sensors/+/data' WHERE humidity > 100" > "$OUT/rules/wet.sql"
    rule "device, pressure - 1013 AS dp FROM 'sensors/+/data' WHERE pressure < 0" > "$OUT/rules/low.sql"
    ;;
many1000)
    for i in $(seq 0 999); do rule "*, topic(2) AS room FROM 'sensors/r$i/data'" > "$OUT/rules/r$i.sql"; done
    TOPIC='sensors/r{rand:0..999}/data'
    ;;
*) echo "unknown ruleset $RULESET" >&2; exit 2 ;;
esac
write_mosquitto_conf
write_rulewire_toml rulewire-paced
MOSQ=""
RW=""
trap 'kill ${MOSQ:+$MOSQ} ${RW:+$RW} 2>/dev/null || true' EXIT
PATH="$PATH:/usr/sbin"
mosquitto -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 &
MOSQ=$!
sleep 0.5
bench() { "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" \
    --topic "$TOPIC" --duration "$DUR" --warmup 1s --drain 3s --rate "$RATE" --qos "$QOS" --json "$@"; }
report() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); cpu = float(sys.argv[2]); label = sys.argv[3]
l = s["latency_ms"] or {}
# every message received, warm-up included (the CPU figure covers the whole run)
n = max(s["received"] + s.get("warmup_received", 0), 1)
print(f"{label:24} delivered/s {s['delivered_per_sec']:>8.0f} lost {s['lost']} dup {s['duplicates']} "
      f"p50 {l.get('p50', 0):.3f} p99 {l.get('p99', 0):.3f} max {l.get('max', 0):.3f} ms"
      + (f"  rulewire CPU/msg {cpu / n * 1e6:.1f} us" if cpu >= 0 else ""))
PY
}
if [ "${BASELINE:-0}" = 1 ]; then
    bench --baseline > "$OUT/baseline.json"
    report "$OUT/baseline.json" -1 "baseline @$RATE"
fi
"$BIN" run --config "$OUT/rulewire.toml" >"$OUT/rulewire.log" 2>&1 &
RW=$!
sleep 3
c0=$(cpu "$RW")
bench --subscribe 'out/#' > "$OUT/rules.json"
c1=$(cpu "$RW")
# The CPU of the whole run (warm-up and drain included) over the messages delivered.
report "$OUT/rules.json" "$(python3 -c "print($c1 - $c0)")" "$RULESET @$RATE"

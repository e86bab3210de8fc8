#!/usr/bin/env bash
# End-to-end through an http action (issue 13's "buffered republish or HTTP action"):
# publisher -> Mosquitto -> rulewire -> http action -> the bench's own HTTP meter
# (`rulewire bench --http-listen`), QoS 0, max rate then a paced step, once with the action
# unbuffered and once behind a disk buffer, alternating RUNS times so that each pair shares
# the machine's mood.
# Usage: bench-results/e2e-http.sh [path/to/release/rulewire]   (results in $OUT)
set -euo pipefail
BIN=${1:-target/release/rulewire}
OUT=${OUT:-/tmp/rw-e2e-http}
DUR=${DUR:-10s}
CONNS=${CONNS:-4}
PORT=${PORT:-18870}
HTTP_PORT=${HTTP_PORT:-18871}
RUNS=${RUNS:-2}
RATE=${RATE:-}
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
write_mosquitto_conf
write_rulewire_toml rulewire-e2e-http

http_rule() {
    printf -- '-- [[action]]\n-- type = "http"\n-- url = "http://127.0.0.1:%s/ingest/${topic(2)}"\n' "$HTTP_PORT"
    if [ "$1" = disk ]; then printf -- '-- buffer = { type = "disk" }\n'; fi
    printf 'SELECT *, topic(2) AS room FROM %s\n' "'sensors/+/data'"
}

MOSQ=""
RW=""
trap 'kill ${MOSQ:+$MOSQ} ${RW:+$RW} 2>/dev/null || true' EXIT
bench() { "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" \
    --topic 'sensors/{conn}/data' --http-listen "127.0.0.1:$HTTP_PORT" \
    --duration "$DUR" --warmup 1s --drain 5s --json "$@"; }
: > "$OUT/cpu.txt"
run() {
    local buffer=$1 n=$2
    rm -rf "$OUT/data" "$OUT"/rules/*.sql
    http_rule "$buffer" > "$OUT/rules/bench.sql"
    mosquitto -c "$OUT/mosquitto.conf" >>"$OUT/mosquitto.log" 2>&1 & MOSQ=$!
    sleep 0.5
    "$BIN" run --config "$OUT/rulewire.toml" >"$OUT/rulewire-$buffer-$n.log" 2>&1 &
    RW=$!
    sleep 2
    local name="$buffer-$n-max" r0; r0=$(cpu "$RW")
    echo "== $name" >&2
    bench --rate 0 > "$OUT/$name.json"
    echo "$name: rulewire $(python3 -c "print(round($(cpu "$RW") - $r0, 2))") s CPU" >> "$OUT/cpu.txt"
    if [ -n "$RATE" ]; then
        name="$buffer-$n-rate$RATE"; r0=$(cpu "$RW")
        echo "== $name" >&2
        bench --rate "$RATE" > "$OUT/$name.json"
        echo "$name: rulewire $(python3 -c "print(round($(cpu "$RW") - $r0, 2))") s CPU" >> "$OUT/cpu.txt"
    fi
    kill "$RW" "$MOSQ"; wait "$RW" "$MOSQ" 2>/dev/null || true; RW=""; MOSQ=""
}
for n in $(seq 1 "$RUNS"); do run memory "$n"; run disk "$n"; done

python3 - "$OUT" <<'PY'
import json, sys, os, glob
out = sys.argv[1]
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    s = json.load(open(path))
    l = s["latency_ms"] or {}
    print(f"{os.path.basename(path)[:-5]:16} sent/s {s['sent_per_sec']:>9.0f} delivered/s {s['delivered_per_sec']:>9.0f} "
          f"lost {s['lost']:>7} ({s['loss_pct']:.2f}%) dup {s['duplicates']} "
          f"p50 {l.get('p50', 0):.3f} p99 {l.get('p99', 0):.3f} max {l.get('max', 0):.3f} ms")
PY
cat "$OUT/cpu.txt"

#!/usr/bin/env bash
# Device Shadow updates through the embedded broker: DEVICES devices (one thing each, one
# mosquitto_pub connection each, QoS 1) each send N updates as fast as the broker acks them;
# one mosquitto_sub counts the /update/accepted answers. A QoS 1 update is acked only after
# its change is committed to redb (synced) and its answers are published, so this is the
# service's durable update rate (group commit across devices). AWS's 20 requests/s per thing
# is turned off here.
# Usage: bench-results/shadows.sh [path/to/release/rulewire]
set -euo pipefail
BIN=${1:-target/release/rulewire}
OUT=${OUT:-/tmp/rw-shadows}
DEVICES=${DEVICES:-8}
N=${N:-2000}
PORT=${PORT:-18860}
rm -rf "$OUT" && mkdir -p "$OUT/rules"
cat > "$OUT/rulewire.toml" <<TOML
[broker]
client_id = "rw-shadow-bench"
[embedded_broker]
listen = "127.0.0.1:$PORT"
[http]
listen = ""
[rules]
dir = "$OUT/rules"
[storage]
data_dir = "$OUT/data"
[shadows]
requests_per_second_per_thing = 0
max_in_flight_per_connection = 0
TOML
"$BIN" run --config "$OUT/rulewire.toml" >"$OUT/rulewire.log" 2>&1 &
RW=$!
trap 'kill $RW 2>/dev/null || true' EXIT
sleep 1.5
TOTAL=$((DEVICES * N))
mosquitto_sub -p "$PORT" -q 1 -t '$aws/things/+/shadow/update/accepted' -C "$TOTAL" > "$OUT/accepted.txt" &
SUB=$!
sleep 0.5
start=$(date +%s.%N)
for d in $(seq 1 "$DEVICES"); do
    seq 1 "$N" | sed "s/.*/{\"state\":{\"reported\":{\"n\":&,\"device\":$d}}}/" |
        mosquitto_pub -p "$PORT" -q 1 -i "dev-$d" -l -t "\$aws/things/thing-$d/shadow/update" &
done
wait $SUB
end=$(date +%s.%N)
python3 - "$start" "$end" "$TOTAL" "$DEVICES" <<'PY'
import sys
start, end, total, devices = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"{total} accepted updates from {devices} devices in {end - start:.2f} s: {total / (end - start):,.0f} updates/s")
PY
grep -c '"version"' "$OUT/accepted.txt" >/dev/null
du -h "$OUT/data/shadows.redb" | awk '{print "shadows.redb: " $1}'

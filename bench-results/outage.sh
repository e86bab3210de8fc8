#!/usr/bin/env bash
# Issue 13: a disk-buffered webhook that is down for DOWN seconds (default 60) at a steady
# RATE (default 5000 msg/s, QoS 1), beside a rule that republishes the same messages.
# Measures the republish rate and latency through the outage (isolation), and samples every
# second rulewire's in-flight messages, RSS and disk buffer, and the webhook's requests.
# Usage: bench-results/outage.sh path/to/release/rulewire   (files in $OUT, default /tmp/rw-outage)
set -euo pipefail
BIN=$(realpath "$1")
OUT=${OUT:-/tmp/rw-outage}
RATE=${RATE:-5000}
DOWN=${DOWN:-60}
PORT=${PORT:-18850}
HOOK=${HOOK:-18851}
ADMIN=${ADMIN:-18852}
mkdir -p "$OUT/rules"
rm -rf "$OUT"/rules/*.sql "$OUT/data"
. "$(dirname "$0")/common.sh"
write_mosquitto_conf
rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/mirror.sql"
cat > "$OUT/rules/webhook.sql" <<RULE
-- [[action]]
-- type = "http"
-- url = "http://127.0.0.1:$HOOK/hook"
-- buffer = { type = "disk" }
SELECT * FROM 'sensors/+/data'
RULE
write_rulewire_toml rulewire-outage
sed -i "s/^listen = \"\"/listen = \"127.0.0.1:$ADMIN\"/" "$OUT/rulewire.toml"

# The webhook: 503 for DOWN seconds from its start, then 200; logs requests per second.
cat > "$OUT/hook.py" <<'PY'
import http.server, sys, threading, time
down, port, log = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start = time.time(); counts = {}; lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.time() - start
        with lock: counts[int(now)] = counts.get(int(now), 0) + 1
        self.send_response(503 if now < down else 200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
def dump():
    while True:
        time.sleep(1)
        with lock: items = sorted(counts.items())
        open(log, "w").write("".join(f"{s} {n}\n" for s, n in items))
threading.Thread(target=dump, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY

MOSQ=""; RW=""; HOOKPID=""; SAMPLER=""
trap 'kill ${MOSQ:+$MOSQ} ${RW:+$RW} ${HOOKPID:+$HOOKPID} ${SAMPLER:+$SAMPLER} 2>/dev/null || true' EXIT
mosquitto -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 & MOSQ=$!
sleep 0.5
(cd "$OUT" && exec "$BIN" run --config "$OUT/rulewire.toml") >"$OUT/rulewire.log" 2>&1 & RW=$!
sleep 2
python3 "$OUT/hook.py" "$DOWN" "$HOOK" "$OUT/hook.txt" & HOOKPID=$!
metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $2; exit}'; }
(
    for t in $(seq 1 $((DOWN + 60))); do
        sleep 1
        echo "t=$t rss_kb=$(grep VmRSS /proc/$RW/status | awk '{print $2}') in_flight=$(metric rulewire_in_flight_messages) buffer_records=$(metric 'rulewire_buffer_records{action="http",rule="webhook"}') buffer_bytes=$(metric 'rulewire_buffer_bytes{action="http",rule="webhook"}') oldest_s=$(metric 'rulewire_buffer_oldest_age_seconds{action="http",rule="webhook"}') delivered=$(metric 'rulewire_action_success_total{action="http",rule="webhook"}') trips=$(metric 'rulewire_action_circuit_trips_total{action="http",rule="webhook"}')"
    done
) > "$OUT/samples.txt" & SAMPLER=$!
"$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections 4 --payload "$PAYLOAD" --topic 'sensors/{conn}/data' \
    --qos 1 --rate "$RATE" --duration "$((DOWN + 20))s" --warmup 0s --drain 5s --subscribe 'out/#' --json > "$OUT/bench.json"
wait $SAMPLER; SAMPLER=""
python3 - "$OUT" "$DOWN" <<'PY'
import json, sys
out, down = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{out}/bench.json")); l = s["latency_ms"] or {}
print(f"republish rule: sent/s {s['sent_per_sec']:.0f} delivered/s {s['delivered_per_sec']:.0f} lost {s['lost']} dup {s['duplicates']} "
      f"p50 {l.get('p50', 0):.2f} p99 {l.get('p99', 0):.2f} max {l.get('max', 0):.2f} ms")
hook = [tuple(map(int, line.split())) for line in open(f"{out}/hook.txt")]
print(f"webhook requests while down ({down} s): {sum(n for t, n in hook if t < down)}; after: {sum(n for t, n in hook if t >= down)}")
PY
grep -E "^t=($((DOWN / 2))|$DOWN|$((DOWN + 10))|$((DOWN + 30))|$((DOWN + 60))) " "$OUT/samples.txt"

#!/usr/bin/env bash
# What a persistent session costs the embedded broker: QoS 1 publishers relayed to one QoS 1
# subscriber (no rule on the path), metered once through a clean session and once through a
# persistent one (`--persistent-meter`: every message delivered to it is written to
# <data_dir>/sessions.redb and deleted on its PUBACK). One fresh `rulewire run` per call, 8 s
# at max rate per step. Prints delivered/s, rulewire's CPU per message, its RSS after each
# step and the size of sessions.redb.
# Usage: bench-results/persistent.sh path/to/release/rulewire [path/to/bench/rulewire]
set -euo pipefail
BIN=$1
LOAD=${2:-$1}
OUT=$(mktemp -d)
PORT=${PORT:-18870}
CONNS=${CONNS:-4}
. "$(dirname "$0")/common.sh"
mkdir -p "$OUT/rules"
write_embedded_rulewire_toml persistent-bench
start_rulewire "$BIN"
step() {
    local name=$1; shift
    local c0; c0=$(cpu $RW)
    "$LOAD" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" \
        --duration 8s --warmup 1s --drain 3s --json --topic 'relay/{conn}/data' --baseline \
        --qos 1 --rate "${RATE:-0}" "$@" > "$OUT/$name.json"
    local c1; c1=$(cpu $RW)
    python3 -c "import json; s = json.load(open('$OUT/$name.json')); d = s['delivered_per_sec']; \
print(f'$name: sent/s {s[\"sent_per_sec\"]:.0f} delivered/s {d:.0f} lost {s[\"lost\"]} dup {s[\"duplicates\"]} ' \
      f'p99 {(s[\"latency_ms\"] or {}).get(\"p99\", 0):.1f} ms rulewire CPU per message {($c1 - $c0) / (d * 9) * 1e6:.1f} us RSS $(rss $RW) kB')"
}
step clean
step persistent --persistent-meter
ls -l "$OUT/data/sessions.redb" | awk '{print "sessions.redb bytes after: " $5}'

#!/usr/bin/env bash
# Where a paced step's messages wait outside rulewire: one `rulewire bench` step against the
# embedded broker (the issue-14 rule, or the relay with `relay`), sampling every socket of the
# broker's port every 0.25 s with `ss`. Prints the step's latency, rulewire's and the bench's
# CPU, the machine's idle share, rulewire's RSS range, and per socket the largest queues seen:
# on the broker's side (Recv-Q: bytes a publisher sent that rmqtt has not read yet; Send-Q:
# bytes written to the subscriber not yet acknowledged), and on the bench's side (a
# publisher's Send-Q: bytes not yet accepted by the broker's socket; the subscriber's Recv-Q:
# bytes the meter has not read). A publisher's Send-Q + the broker's Recv-Q for it is that
# connection's backlog before rulewire's publish hook sees its messages.
# Usage: bench-results/socket-queues.sh path/to/release/rulewire RATE [relay]   (DUR, OUT env)
set -euo pipefail
BIN=$1; RATE=$2; MODE=${3:-rules}
OUT=${OUT:-/tmp/rw-socket-queues}; PORT=${PORT:-18850}; DUR=${DUR:-8s}
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
rm -rf "$OUT"/rules/*.sql "$OUT/data"
rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql"
write_embedded_rulewire_toml rulewire-socket-queues
start_rulewire "$BIN"
if [ "$MODE" = relay ]; then T='relay/{conn}/data'; S=(--baseline); else T='sensors/{conn}/data'; S=(--subscribe 'out/#'); fi
( while sleep 0.25; do
    echo "T $(rss "$RW")"
    ss -tnH state established "( sport = :$PORT )" | awk '{print "S", $1, $2, $4}'
    ss -tnH state established "( dport = :$PORT )" | awk '{print "C", $1, $2, $3}'
  done ) > "$OUT/ss.txt" 2>/dev/null &
SAMPLER=$!
idle() { awk '/^cpu /{s=0; for (i=2;i<=NF;i++) s+=$i; print $5, s}' /proc/stat; }
c0=$(cpu "$RW"); read -r i0 t0 < <(idle)
/usr/bin/time -f "%U %S" -o "$OUT/bench.time" "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" \
    --connections 4 --payload "$PAYLOAD" --duration "$DUR" --warmup 1s --drain 3s --json \
    --topic "$T" "${S[@]}" --rate "$RATE" > "$OUT/step.json" 2>/dev/null
read -r i1 t1 < <(idle)
kill "$SAMPLER"
python3 - "$OUT" "$MODE" "$RATE" "$(cpu "$RW")" "$c0" $(( 100 * (i1 - i0) / (t1 - t0) )) <<'PY'
import json, sys
out, mode, rate, c1, c0, idle = sys.argv[1:]
s = json.load(open(f"{out}/step.json")); l = s["latency_ms"] or {}
user, system = open(f"{out}/bench.time").read().split()
print(f"{mode} at {rate} msg/s: delivered/s {s['delivered_per_sec']:.0f}, lost {s['lost']}, "
      f"p50 {l.get('p50', 0):.2f} p99 {l.get('p99', 0):.2f} max {l.get('max', 0):.1f} ms")
print(f"rulewire CPU {float(c1) - float(c0):.2f} s, bench CPU {float(user) + float(system):.2f} s, machine idle {idle} %")
rss, broker, bench = [], {}, {}
for line in open(f"{out}/ss.txt"):
    f = line.split()
    if f[0] == "T":
        rss.append(int(f[1])); continue
    side = broker if f[0] == "S" else bench
    top = side.setdefault(f[3], [0, 0])
    top[0] = max(top[0], int(f[1])); top[1] = max(top[1], int(f[2]))
print(f"rulewire RSS {min(rss)}-{max(rss)} kB")
print("broker side, largest Recv-Q / Send-Q per socket (bytes):", sorted(broker.values(), reverse=True))
print("bench side, largest Recv-Q / Send-Q per socket (bytes):", sorted(bench.values(), reverse=True))
PY

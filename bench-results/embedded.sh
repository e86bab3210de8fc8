#!/usr/bin/env bash
# Issue 14's benchmark, in one rulewire run with its embedded broker (rmqtt) and the e2e
# republish rule loaded: (a) the broker relaying publisher -> subscriber on topics no rule
# reads (relay/<conn>/data), then (b) publisher -> broker -> rule -> republish -> subscriber
# (sensors/<conn>/data -> out/<conn>), both at max rate, then (a2) the relay at max rate again,
# then relay and rules at half the relay's rate for the latency. QoS 0, 4 publisher
# connections. The second relay step brackets the rules step: the VM's speed drifts between
# steps (BENCHMARKS.md, stop 43), and the rules rate over the mean of the relay rates before
# and after it cancels a steady drift, which a single relay step before it does not.
# RULE_BODY replaces the rule's SELECT body (it must keep seq and ts, which the meter reads),
# BENCH_PAYLOAD the payload template. METRICS_PORT=<port> serves rulewire's /metrics there and
# adds each step's queue wait (rulewire_queue_wait_seconds: admission to evaluation, per batch)
# and time in rulewire (rulewire_message_seconds: admission until every rule is done, per message).
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
if [ -n "${METRICS_PORT:-}" ]; then
    sed -i "s/^listen = \"\"$/listen = \"127.0.0.1:$METRICS_PORT\"/" "$OUT/rulewire.toml"
fi
# bench CPU_FILE ARGS...: one load step; the load generator's user and system CPU go to CPU_FILE.
bench() { local cpu_file=$1; shift; /usr/bin/time -f "%U %S" -o "$cpu_file" "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections "$CONNS" --payload "$PAYLOAD" \
    --duration "$DUR" --warmup 1s --drain 3s --json "$@"; }
step() {
    local name=$1; shift
    local r0; r0=$(cpu "$RW")
    bench "$OUT/$name.bench-cpu" "$@" > "$OUT/$name.json"
    if [ -n "${METRICS_PORT:-}" ]; then curl -sf "127.0.0.1:$METRICS_PORT/metrics" > "$OUT/$name.metrics"; fi
    # CPU per message published (warm-up included, as in the CPU time), rulewire's and the load
    # generator's: they share the machine, so when both cost more the machine was slower in
    # that step, not rulewire (BENCHMARKS.md, stops 37 and 43).
    echo "$name: rulewire $(python3 -c "import json; s = json.load(open('$OUT/$name.json')); n = s[\"sent\"] + s[\"warmup_sent\"]; c = $(cpu "$RW") - $r0; b = sum(map(float, open('$OUT/$name.bench-cpu').read().split()[-2:])); print(f'{c:.2f} s CPU, {1e6 * c / n:.2f} us per message, load generator {1e6 * b / n:.2f} us per message')"), RSS $(rss "$RW") kB" >> "$OUT/cpu.txt"
}
: > "$OUT/cpu.txt"
json() { python3 -c "import json;print(json.load(open('$1'))['$2'])"; }

start_rulewire "$BIN"
echo "idle RSS kB: $(rss $RW)" >> "$OUT/cpu.txt"
echo "== (a) relay, max rate" >&2
step a-relay-max --topic 'relay/{conn}/data' --baseline --rate 0
echo "== (b) rules, max rate" >&2
step b-rules-max --topic 'sensors/{conn}/data' --subscribe 'out/#' --rate 0
echo "== (a2) relay, max rate again" >&2
step a2-relay-max --topic 'relay/{conn}/data' --baseline --rate 0
HALF=$(python3 -c "print(int($(json "$OUT/a-relay-max.json" delivered_per_sec)/2))")
echo "== (c) relay, rate $HALF" >&2
step c-relay-half --topic 'relay/{conn}/data' --baseline --rate "$HALF"
echo "== (d) rules, rate $HALF" >&2
step d-rules-half --topic 'sensors/{conn}/data' --subscribe 'out/#' --rate "$HALF"

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
previous = {}
def histogram(name, metric, unit):
    """This step's counts of a rulewire histogram (since the step before): how many, and
    the upper bounds of the buckets holding their p99 and their slowest."""
    path = os.path.join(out, name + ".metrics")
    if not os.path.exists(path):
        return ""
    counts = {}
    for line in open(path):
        if line.startswith(metric + "_bucket{le="):
            le = line.split('"')[1]
            counts[le] = float(line.split()[-1])
    step = {le: c - previous.get((metric, le), 0) for le, c in counts.items()}
    previous.update({(metric, le): c for le, c in counts.items()})
    total = step.get("+Inf", 0)
    if total == 0:
        return "none"
    bounds = sorted((float(le), c) for le, c in step.items())
    p99 = next(le for le, c in bounds if c >= 0.99 * total)
    worst = next(le for le, c in bounds if c >= total)
    return f"{int(total)} {unit}, p99 <= {p99 * 1000:g} ms, max <= {worst * 1000:g} ms"
def queue_wait(name):
    if not os.path.exists(os.path.join(out, name + ".metrics")):
        return ""
    return (f"\n    queue wait: {histogram(name, 'rulewire_queue_wait_seconds', 'batches')}"
            f"; admission to done: {histogram(name, 'rulewire_message_seconds', 'messages')}")
for name in ["a-relay-max", "b-rules-max", "a2-relay-max", "c-relay-half", "d-rules-half"]:
    s = json.load(open(os.path.join(out, name + ".json")))
    l = s["latency_ms"] or {}
    q = queue_wait(name)
    print(f"{name:14} sent/s {s['sent_per_sec']:>9.0f} delivered/s {s['delivered_per_sec']:>9.0f} "
          f"lost {s['lost']:>7} ({s['loss_pct']:.2f}%) dup {s['duplicates']} "
          f"p50 {l.get('p50', 0):.3f} p90 {l.get('p90', 0):.3f} p99 {l.get('p99', 0):.3f} max {l.get('max', 0):.3f} ms{q}")
a = json.load(open(os.path.join(out, "a-relay-max.json")))["delivered_per_sec"]
b = json.load(open(os.path.join(out, "b-rules-max.json")))["delivered_per_sec"]
a2 = json.load(open(os.path.join(out, "a2-relay-max.json")))["delivered_per_sec"]
print(f"rules / relay at max rate: {b / a:.2f} (relay before); {b / ((a + a2) / 2):.2f} "
      f"(mean of the relay before and after: {a:.0f}, {a2:.0f} msg/s)")
PY
cat "$OUT/cpu.txt"

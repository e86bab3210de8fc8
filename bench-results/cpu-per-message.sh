#!/usr/bin/env bash
# CPU and context switches per message, for paced steps against the embedded broker: one
# `rulewire bench` step per MODE (`rules`: the issue-14 rule, publisher -> rule -> republish ->
# subscriber; `relay`: publisher -> subscriber on topics no rule reads) in one fresh rulewire.
# Prints per step: the latency, rulewire's CPU per message and its voluntary / involuntary
# context switches per message (all its threads, from /proc), the bench's own CPU per message
# (it shares the machine), the machine's idle and steal time over the step (jiffies, both
# cores), and the busiest threads. Runs of one binary differ by more than small changes do, so
# compare alternated runs.
# Usage: bench-results/cpu-per-message.sh path/to/release/rulewire RATE [MODE...]   (DUR, OUT env)
set -euo pipefail
BIN=$1; RATE=$2; shift 2; MODES=${*:-relay rules}
OUT=${OUT:-/tmp/rw-cpu-per-message}; PORT=${PORT:-18850}; DUR=${DUR:-8s}
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
rm -rf "$OUT"/rules/*.sql "$OUT/data"
rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql"
write_embedded_rulewire_toml rulewire-cpu-per-message
start_rulewire "$BIN"
# One line per thread: tid, name, voluntary and involuntary switches, CPU ticks.
threads() {
    for t in /proc/"$RW"/task/*; do
        echo "$(basename "$t") $(tr ' ' _ < "$t/comm") $(awk '/^voluntary_ctxt/{v=$2} /^nonvoluntary_ctxt/{n=$2} END{print v, n}' "$t/status") $(awk '{print $14 + $15}' "$t/stat")"
    done
}
# Steal and idle jiffies of the machine so far.
machine() { awk '/^cpu /{print $9, $5}' /proc/stat; }
for MODE in $MODES; do
    if [ "$MODE" = relay ]; then T='relay/{conn}/data'; S=(--baseline); else T='sensors/{conn}/data'; S=(--subscribe 'out/#'); fi
    threads > "$OUT/threads.0"; machine > "$OUT/machine.0"
    /usr/bin/time -f "%U %S" -o "$OUT/bench.time" "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" \
        --connections 4 --payload "$PAYLOAD" --duration "$DUR" --warmup 1s --drain 3s --json \
        --topic "$T" "${S[@]}" --rate "$RATE" > "$OUT/step.json" 2>/dev/null
    threads > "$OUT/threads.1"; machine > "$OUT/machine.1"
    python3 - "$OUT" "$MODE" "$(getconf CLK_TCK)" <<'PY'
import json, sys
out, mode, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(f"{out}/step.json")); l = s["latency_ms"] or {}
n = s["sent"] + s["warmup_sent"]
before = {f[0]: f for f in (line.split() for line in open(f"{out}/threads.0"))}
vol = invol = ticks = 0
busy = []
for f in (line.split() for line in open(f"{out}/threads.1")):
    b = before.get(f[0], [f[0], f[1], 0, 0, 0])
    v, nv, c = (int(f[i]) - int(b[i]) for i in (2, 3, 4))
    vol, invol, ticks = vol + v, invol + nv, ticks + c
    if c > hz // 20:
        busy.append(f"{f[1]} {c / hz:.2f} s")
steal0, idle0 = map(int, open(f"{out}/machine.0").read().split())
steal1, idle1 = map(int, open(f"{out}/machine.1").read().split())
user, system = map(float, open(f"{out}/bench.time").read().split())
print(f"{mode} at {s['sent_per_sec']:.0f} msg/s: p50 {l.get('p50', 0):.2f} p99 {l.get('p99', 0):.2f} ms, lost {s['lost']}; "
      f"rulewire {ticks / hz / n * 1e6:.2f} us/msg, {vol / n:.3f} voluntary + {invol / n:.3f} involuntary switches/msg; "
      f"bench {(user + system) / n * 1e6:.2f} us/msg; machine idle {idle1 - idle0}, steal {steal1 - steal0} jiffies; "
      f"threads: {', '.join(busy)}")
PY
done

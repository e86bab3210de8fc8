#!/usr/bin/env bash
# Instructions rulewire executes per message on the embedded broker's rules path, counted by
# valgrind's callgrind, for machines without hardware counters. Not exact either: runs of one
# binary differ by about +-6 % (timers, batch sizes that follow the bench's pacing), so compare
# the means of several alternated runs. `rulewire bench` paces RATE msg/s (default 1,000: callgrind
# runs rulewire ~50x slower, and the service must keep up) through the issue-14 rule for a
# short and a long step, each in a fresh rulewire under callgrind; the difference in total
# instructions over the difference in messages cancels start-up and shutdown. At this rate most
# batches hold one message, so per-batch costs weigh more than under load.
# ONLY (and ONLY2) count only inside functions matching a callgrind --toggle-collect pattern,
# e.g. rulewire's own share of the rules path, which leaves the broker's and the runtime's
# timers out: ONLY='*spawn_worker*' ONLY2='*RulesFeed as rmqtt::hook::Handler>::hook*'.
# Usage: bench-results/instructions.sh path/to/release/rulewire [RATE]   (needs valgrind)
set -euo pipefail
BIN=$1; RATE=${2:-1000}
OUT=${OUT:-/tmp/rw-instructions}; PORT=${PORT:-18851}
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
mkdir -p "$OUT/rules"
. "$(dirname "$0")/common.sh"
rule "*, topic(2) AS room FROM 'sensors/+/data'" > "$OUT/rules/bench.sql"
write_embedded_rulewire_toml rulewire-instructions
# step SECONDS: prints "<messages sent> <instructions>".
step() {
    rm -rf "$OUT/data" "$OUT"/callgrind.out*
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" ${ONLY:+"--toggle-collect=$ONLY"} ${ONLY2:+"--toggle-collect=$ONLY2"} \
        "$BIN" run --config "$OUT/rulewire.toml" > "$OUT/rulewire.log" 2>&1 &
    local vg=$!
    for _ in $(seq 240); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.5; done
    "$BIN" bench --broker "mqtt://127.0.0.1:$PORT" --connections 4 --payload "$PAYLOAD" \
        --duration "${1}s" --warmup 1s --drain 3s --json --topic 'sensors/{conn}/data' \
        --subscribe 'out/#' --rate "$RATE" > "$OUT/step.json" 2>/dev/null
    kill -INT "$vg"; wait "$vg" || true
    python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
s = json.load(open(f"{out}/step.json"))
if s["lost"]:
    sys.exit(f"{s['lost']} messages lost: rulewire under callgrind did not keep up; lower the rate")
total = next(int(l.split()[1]) for l in open(f"{out}/callgrind.out") if l.startswith("summary:"))
# Warmup messages count too: they cost the same.
print(s["sent"] + s["warmup_sent"], total)
PY
}
read -r m1 i1 < <(step 4)
read -r m2 i2 < <(step 10)
python3 -c "print(f'{($i2 - $i1) / ($m2 - $m1):,.0f} instructions per message ({$m2 - $m1} messages between the two steps)')"

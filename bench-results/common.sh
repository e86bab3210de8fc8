# Shared by e2e.sh and paced.sh (sourced): the benchmark payload, the Mosquitto and rulewire
# configurations, and the republish rule. Each script sets OUT and PORT first.

# ~200-byte payload (the echoed seq and ts give loss, duplicates and latency)
PAYLOAD='{"temperature": {rand:20..40}, "humidity": {randf:30..90}, "pressure": {randf:990..1030}, "battery": {rand:0..100}, "device": "bench-device-{conn}", "firmware": "1.4.2-build.5678", "location": {"building": "hq", "floor": {rand:1..9}}, "seq": {seq}, "ts": {ts_ns}}'

# A republish rule (QoS 0 to out/<topic level 2>) with the given SELECT body. BUFFER=disk puts
# the republish behind a disk buffer (in $OUT/data).
rule() {
    printf -- '-- [[action]]\n-- type = "republish"\n-- topic = "out/${topic(2)}"\n-- qos = 0\n'
    if [ "${BUFFER:-}" = disk ]; then printf -- '-- buffer = { type = "disk" }\n'; fi
    printf 'SELECT %s\n' "$1"
}

# $OUT/mosquitto.conf: anonymous, no persistence, unbounded queues (nothing dropped), on $PORT.
write_mosquitto_conf() {
    cat > "$OUT/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
max_queued_messages 0
set_tcp_nodelay true
listener $PORT 127.0.0.1
CONF
}

# $OUT/rulewire.toml: the broker on $PORT (BROKER_URL="" for the embedded one, whose section
# the caller appends), rules from $OUT/rules, client id $1, no admin listener.
write_rulewire_toml() {
    cat > "$OUT/rulewire.toml" <<CONF
[broker]
url = "${BROKER_URL-mqtt://127.0.0.1:$PORT}"
client_id = "$1"
basic_ingest = false
[rules]
dir = "$OUT/rules"
watch = false
[http]
listen = ""
[storage]
data_dir = "$OUT/data"
CONF
}

# write_rulewire_toml $1 with the embedded broker listening on $PORT. Its queues are as good
# as unbounded (MAX_QUEUED, default 10,000,000 messages per session), as in the Mosquitto
# configuration above: a max-rate step measures throughput, with the overload queued, not the
# drop policy. With the default bound (100,000) a subscriber slower than the publishers loses
# messages, and each drop costs CPU the deliveries need (BENCHMARKS.md, stop 38).
write_embedded_rulewire_toml() {
    BROKER_URL="" write_rulewire_toml "$1"
    printf '[embedded_broker]\nlisten = "127.0.0.1:%s"\nmax_queued_messages = %s\n' "$PORT" \
        "${MAX_QUEUED:-10000000}" >> "$OUT/rulewire.toml"
}

# Starts `$1 run` on $OUT/rulewire.toml (log in $OUT/rulewire.log) as $RW, killed on exit.
start_rulewire() {
    "$1" run --config "$OUT/rulewire.toml" >"$OUT/rulewire.log" 2>&1 &
    RW=$!
    trap 'kill $RW 2>/dev/null || true' EXIT
    sleep 2
}

# Resident memory of a process, kB.
rss() { grep VmRSS "/proc/$1/status" | awk '{print $2}'; }

# CPU seconds (user + system) a process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }

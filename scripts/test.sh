#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian/Ubuntu machine
# (Mosquitto, openssl, a JDK, moto server, the tansu Kafka broker), makes sure the default Mosquitto
# runs at 127.0.0.1:1883, then runs the whole suite and a short run of each fuzz target. Tests that load or kill a broker start their own Mosquitto on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v openssl >/dev/null || missing+=(openssl)
# The kafka action builds the bundled librdkafka (./configure + make) against system OpenSSL.
command -v make >/dev/null || missing+=(make)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# The Java oracle of the engine's property tests (java.util.regex, String, BigDecimal).
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
# The web console's tests drive a real headless browser through chromedriver.
command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
command -v moto_server >/dev/null || python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin"

# The default broker at 127.0.0.1:1883 (the tests' own brokers use other ports).
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    echo "starting mosquitto on 127.0.0.1:1883"
    conf=/etc/mosquitto/mosquitto.conf
    if [ -f "$conf" ]; then $SUDO mosquitto -d -c "$conf"; else $SUDO mosquitto -d -p 1883; fi
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
fi

# Build outside the clone so CI's fresh checkouts reuse compiled dependencies (DataFusion,
# rumqttd, ... take long on 2 cores). Works the same when the cache does not exist yet.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${RULEWIRE_CACHE_DIR:-$HOME/.cache/rulewire}/target}"
mkdir -p "$CARGO_TARGET_DIR"

# moto server: the S3 action's tests start their own on a free port.
if ! command -v moto_server >/dev/null; then
    echo "installing: moto[server]"
    python3 -m pip install --quiet 'moto[server]' || python3 -m pip install --quiet --break-system-packages 'moto[server]'
fi
export PATH="$PATH:$HOME/.local/bin"

# tansu, a Kafka-compatible broker: the kafka action's tests start their own on a free port.
# Built once (~15 min on 2 cores) into the cache outside the clone and reused.
cache="${RULEWIRE_CACHE_DIR:-$HOME/.cache/rulewire}"
export RULEWIRE_TANSU="${RULEWIRE_TANSU:-$cache/tansu/bin/tansu}"
if [ ! -x "$RULEWIRE_TANSU" ]; then
    echo "installing: tansu (Kafka-compatible test broker) into $cache/tansu"
    build_dir="${TMPDIR:-/tmp}/rulewire-tansu-build"
    cargo install tansu --locked --features dynostore --root "$cache/tansu" --target-dir "$build_dir"
    rm -rf "$build_dir"
    RULEWIRE_TANSU="$cache/tansu/bin/tansu"
fi

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace "$@"
    cargo test --workspace --doc
else
    cargo test --workspace "$@"
fi

# A short run of every fuzz target from the committed corpora (RULEWIRE_FUZZ_SECONDS each,
# default 60; 0 skips, and says so), with a fixed seed so that CI is repeatable: exploring
# new inputs is the long run's job (scripts/fuzz.sh 1200).
fuzz_seconds="${RULEWIRE_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" -gt 0 ]; then
    FUZZ_SEED="${FUZZ_SEED:-1}" scripts/fuzz.sh "$fuzz_seconds"
else
    echo "fuzzing skipped: RULEWIRE_FUZZ_SECONDS=0"
fi

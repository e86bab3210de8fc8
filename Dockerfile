# rulewire: multi-stage build; the runtime image holds the binary, the example rules and
# config, and runs as a non-root user.
FROM rust:1.95-slim-bookworm AS build
# The kafka action builds the bundled librdkafka (./configure + make) against OpenSSL.
RUN apt-get update && apt-get install -y --no-install-recommends make pkg-config libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p rulewire && strip target/release/rulewire

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/rulewire rulewire
COPY --from=build /src/target/release/rulewire /usr/local/bin/rulewire
COPY rulewire.toml /etc/rulewire/rulewire.toml
COPY rules /etc/rulewire/rules
COPY deploy/devices /etc/rulewire/devices
WORKDIR /etc/rulewire
USER rulewire
# In a container listen on all interfaces; set RULEWIRE_BROKER_URL to use an external broker.
# The embedded broker then faces the network, so it refuses to start until devices have
# credentials: mount a device registry at /etc/rulewire/devices (devices.toml and
# policies/*.json with logins, or CAs and certificates plus RULEWIRE_EMBEDDED_BROKER_TLS_LISTEN=0.0.0.0:8883,
# _TLS_CERT and _TLS_KEY), or accept anyone with RULEWIRE_EMBEDDED_BROKER_ALLOW_ANONYMOUS=true.
# See the README, "Embedded broker".
ENV RULEWIRE_HTTP_LISTEN=0.0.0.0:9464 \
    RULEWIRE_EMBEDDED_BROKER_LISTEN=0.0.0.0:1883 \
    RULEWIRE_EMBEDDED_BROKER_DEVICES_DIR=/etc/rulewire/devices \
    RULEWIRE_RULES_DIR=/etc/rulewire/rules \
    RULEWIRE_STORAGE_DATA_DIR=/var/lib/rulewire
# Disk buffers (and later shadows) must outlive the container.
VOLUME /var/lib/rulewire
EXPOSE 1883 8883 9464
ENTRYPOINT ["rulewire", "--log-format", "json"]
CMD ["run", "--config", "/etc/rulewire/rulewire.toml"]

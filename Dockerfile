# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run from a slim Debian with only the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates crates
COPY migrations migrations
COPY tests tests
RUN cargo build --release --locked -p gatehouse-server \
 && strip target/release/gatehouse

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/gatehouse --create-home gatehouse \
 && chmod 700 /var/lib/gatehouse
# The data directory holds signing keys: Gatehouse refuses one that other users can read.
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
USER gatehouse
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_BIND=0.0.0.0:8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse \
    GATEHOUSE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/ready || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["gatehouse"]
CMD ["serve"]

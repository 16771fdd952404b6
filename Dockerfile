# Builds order-producer and order-consumer; the runtime image holds only the two binaries and runs as non-root.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, with stub sources, so code changes do not rebuild librdkafka and the other crates.
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/
COPY producer/Cargo.toml producer/
COPY consumer/Cargo.toml consumer/
RUN mkdir -p shared/src producer/src consumer/src \
 && touch shared/src/lib.rs producer/src/lib.rs consumer/src/lib.rs \
 && echo 'fn main() {}' > producer/src/main.rs \
 && echo 'fn main() {}' > consumer/src/main.rs \
 && cargo build --release --locked -p order-producer -p order-consumer \
 && rm -rf shared/src producer/src consumer/src

COPY . .
RUN touch shared/src/lib.rs producer/src/lib.rs consumer/src/lib.rs \
 && cargo build --release --locked -p order-producer -p order-consumer

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /src/target/release/order-producer /src/target/release/order-consumer /usr/local/bin/
# Numeric, so that a runtime (Kubernetes' runAsNonRoot) can verify the user is not root without reading /etc/passwd.
USER 10001:10001
CMD ["order-consumer"]

# Builds order-producer and order-consumer; the runtime image holds only the two binaries and runs as non-root.
# The base images are build arguments with the official images as defaults, so a machine without a registry can
# substitute local builds without editing this file (scripts/docker.sh images; docs/containers.md).
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, with stub sources for every workspace member, so code changes do not rebuild librdkafka and
# the other crates. A member missing here fails this step with "failed to load manifest for workspace member".
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/
COPY harness/Cargo.toml harness/
COPY producer/Cargo.toml producer/
COPY consumer/Cargo.toml consumer/
COPY autoscaler/Cargo.toml autoscaler/
COPY lab/Cargo.toml lab/
COPY doc-checks/Cargo.toml doc-checks/
RUN for crate in shared harness producer consumer autoscaler lab doc-checks; do \
      mkdir -p "$crate/src" && touch "$crate/src/lib.rs"; \
    done \
 && for crate in producer consumer autoscaler lab; do echo 'fn main() {}' > "$crate/src/main.rs"; done \
 && cargo build --release --locked -p order-producer -p order-consumer \
 && rm -rf shared/src harness/src producer/src consumer/src autoscaler/src lab/src doc-checks/src

COPY . .
RUN touch shared/src/lib.rs producer/src/lib.rs consumer/src/lib.rs \
 && cargo build --release --locked -p order-producer -p order-consumer

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /src/target/release/order-producer /src/target/release/order-consumer /usr/local/bin/
# Numeric, so that a runtime (Kubernetes' runAsNonRoot) can verify the user is not root without reading /etc/passwd.
USER 10001:10001
CMD ["order-consumer"]

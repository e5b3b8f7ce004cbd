# syntax=docker/dockerfile:1
# The `lifecycle` image: one binary that runs the daily job, a Ballista scheduler or an executor
# (k8s/ picks the role with its arguments). Build: docker build -t lifecycle:0.1.0 .
# A cold release build takes 35-60 minutes on 2 cores; the cache mounts keep later builds short.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Everything the workspace manifest names: crates, the root binary, its tests and benches
# (cargo reads every declared target), and jobs/demo.toml (compiled into the binary).
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY crates crates
COPY tests tests
COPY benches benches
COPY jobs jobs
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin lifecycle \
    && cp target/release/lifecycle /usr/local/bin/lifecycle

# glibc and libgcc only (TLS is rustls): no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/lifecycle /usr/local/bin/lifecycle
# The uid the Kubernetes manifests run as; the root filesystem can be read-only (spill and
# shuffle files go to the mounted work folder, temporary files to /tmp).
USER 10001:10001
ENV LIFECYCLE_LOG=info
EXPOSE 50050 50051 50052 50053
ENTRYPOINT ["/usr/local/bin/lifecycle"]
CMD ["--help"]

# The agent's image: `nightshift` on a distroless base, as a non-root user, with nothing
# else in it (no shell, no package manager). It runs with a read-only root filesystem: the
# only writable paths it needs are /tmp and its state directory, which the Helm chart mounts
# as emptyDir volumes.
#
#   docker build -t nightshift:0.1.0 .          (or podman build / buildah bud)
#   scripts/image                               builds the same runtime image from a release
#                                               binary built on this machine

# The toolchain floor is the workspace's rust-version (1.94).
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# Extra cargo features, none by default (https is always built in).
ARG FEATURES=

FROM ${RUST_IMAGE} AS build
ARG FEATURES
WORKDIR /src
COPY . .
# The registry and the target dir are cache mounts (BuildKit, podman, buildah): a rebuild after a
# source change reuses the compiled dependencies. The binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p nightshift --features "${FEATURES}" \
    && install -D -m 0755 target/release/nightshift /out/nightshift

# Debian 12, like the build stage, so the binary finds the glibc it was linked against.
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/nightshift /usr/local/bin/nightshift
# distroless's nonroot user.
USER 65532:65532
WORKDIR /var/lib/nightshift
EXPOSE 8080
# `nightshift run` stops cleanly on SIGINT as on SIGTERM: the steps under way finish and the
# leader Lease is released.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/nightshift"]
CMD ["run", "--config", "/etc/nightshift/config/nightshift.yaml"]

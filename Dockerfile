# syntax=docker/dockerfile:1
# Build: the same cargo command CI's release build uses.
# Base images go by tag here. For a release, pin each to the digest the tag points at
# (`docker buildx imagetools inspect rust:1.95-bookworm`, then `FROM rust:1.95-bookworm@sha256:…`),
# and renew the pins when the tags move; this machine cannot reach the registries to
# look them up (RELEASING.md lists this step).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Packed relative relocations (DT_RELR): at each start the loader reads 14 KB of them
# instead of 1.2 MB, which is 1.1-1.5 MiB less idle RSS (BENCHMARKS.md, "Idle RSS and
# hashing"). They need glibc 2.36 at run time, which the runtime image below has
# (Debian 12), so only this image is built with them; a build for any other host is not.
ENV RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs"
RUN cargo build --release --locked --no-default-features --features elasticsearch,http,kafka,s3,security_lake,splunk,syslog --bin coder-audit-shipper

# Run: no shell, non-root, read-only root filesystem friendly (state in a volume).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/coder-audit-shipper /usr/local/bin/coder-audit-shipper
# 65532 is distroless's "nonroot" user, numeric so runAsNonRoot can check it.
USER 65532:65532
VOLUME ["/var/lib/coder-audit-shipper"]
ENTRYPOINT ["/usr/local/bin/coder-audit-shipper"]
CMD ["run", "--config", "/etc/coder-audit-shipper/shipper.toml"]

# Isthmus container images: one build stage, two final stages.
#
#   docker build --target mesh-controller -t isthmus/mesh-controller:0.1.0 .
#   docker build --target dns-proxy       -t isthmus/dns-proxy:0.1.0 .
#
# The binaries are linked statically against musl, so the final images are `scratch` plus
# one executable, running as the unprivileged user 65532.

FROM rust:1.95 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && rustup target add "$target" \
 && cargo build --release --locked --target "$target" -p mesh-controller -p dns-proxy \
 && mkdir -p /out \
 && cp "target/$target/release/mesh-controller" "target/$target/release/dns-proxy" /out/

FROM scratch AS mesh-controller
COPY --from=build /out/mesh-controller /mesh-controller
USER 65532:65532
ENTRYPOINT ["/mesh-controller"]

FROM scratch AS dns-proxy
COPY --from=build /out/dns-proxy /dns-proxy
USER 65532:65532
EXPOSE 5353/udp 5353/tcp 9153/tcp
ENTRYPOINT ["/dns-proxy"]

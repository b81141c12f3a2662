# syntax=docker/dockerfile:1
#
# The Sluice container image: FROM scratch with the static binary, CA
# certificates, a non-root user (65532) and /etc/sluice/sluice.yaml
# (configs/container.yaml). docs/deploy.md walks through it.
#
#   make build && docker build -t sluice .        # the default target: bin/sluice from `make build`
#   docker build --target from-source -t sluice .  # multi-stage: builds the binary in a Go image
#   make image                                     # the same image without a Docker daemon (tools/mkimage)
#
# Pass the build's identity to the labels:
#   --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse --short HEAD)
#
# tools/mkimage builds this image without Docker; its test (TestDockerfile…)
# keeps the two in step: change both together.

ARG GO_VERSION=1.26
ARG DEBIAN=bookworm

# Build from source: a static binary (CGO_ENABLED=0), as `make build` does.
FROM golang:${GO_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY go.mod go.sum ./
# gnet is a patched copy (go.mod replaces it; third_party/gnet/PATCHES.md).
COPY third_party/gnet/ third_party/gnet/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/sluice ./cmd/sluice

# What a scratch image lacks: CA certificates (TLS to backends, ACME) and a
# user database naming the non-root user; its state directory.
FROM debian:${DEBIAN}-slim AS rootfs
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/var/lib/sluice \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nsluice:x:65532:65532:sluice:/var/lib/sluice:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nsluice:x:65532:\n' > /rootfs/etc/group \
 && chown 65532:65532 /rootfs/var/lib/sluice \
 && chmod 0700 /rootfs/var/lib/sluice

# Everything but the binary.
FROM scratch AS base
COPY --from=rootfs /rootfs/ /
COPY configs/container.yaml /etc/sluice/sluice.yaml
ENV PATH=/usr/local/bin \
    SLUICE_CONFIG=/etc/sluice/sluice.yaml
USER 65532:65532
# 8080: the http frontend of configs/container.yaml; 9900: admin (/metrics,
# /healthz, /readyz). Both above 1024: no capability needed.
EXPOSE 8080/tcp 9900/tcp
# Graceful stop: in-flight requests finish within shutdown_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["run"]
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Sluice load balancer: L4 TCP and L7 HTTP" \
      org.opencontainers.image.source="https://github.com/sluicelb/sluice" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"

# docker build --target from-source: the binary built above.
FROM base AS from-source
COPY --from=build /out/sluice /usr/local/bin/sluice

# The default (last) target: bin/sluice from `make build`.
FROM base AS prebuilt
COPY bin/sluice /usr/local/bin/sluice

# syntax=docker/dockerfile:1
FROM debian:12 AS build
# VERSION is only the Go toolchain's version here (the download URL says
# so): it changes with an upgrade, not every build, so declaring it above
# the apt install is an info, and that install is no install-cleanup case.
# want: early-arg
ARG VERSION
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://go.dev/dl/go${VERSION}.linux-amd64.tar.gz | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH
# A tool built from the source it clones in the same RUN re-runs only when
# the line does: no cache mount is an info.
# want: cache-mount
RUN git clone --depth 1 -b v1.9.1 https://github.com/containernetworking/plugins /cni && cd /cni && go build -o /out/loopback ./plugins/main/loopback

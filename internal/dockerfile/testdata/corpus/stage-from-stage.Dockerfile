# syntax=docker/dockerfile:1
# Stages built FROM a rust stage and FROM a golang stage keep the official
# images' cache paths (CARGO_HOME=/usr/local/cargo, GOPATH=/go), even where
# the mounts are missing.
FROM rust:1.82 AS toolchain
RUN rustup component add clippy

FROM toolchain AS build
WORKDIR /src
COPY . .
# want: cache-mount
# want: copy-before-deps
RUN cargo build --release --locked

FROM golang:1.23 AS gobase
FROM gobase AS gobuild
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/tool ./cmd/tool

FROM gcr.io/distroless/cc
COPY --from=build /src/target/release/app /app
COPY --from=gobuild /out/tool /tool

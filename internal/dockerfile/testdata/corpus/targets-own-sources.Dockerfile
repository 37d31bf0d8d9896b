# syntax=docker/dockerfile:1
# Near miss: each target copies only its own part; the whole-module build
# below copies everything but builds all of it.
FROM rust:1.80 AS deps
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo fetch

FROM deps AS gateway-build
COPY crates/gateway crates/gateway
RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/src/target cargo build --release -p gateway

FROM golang:1.23 AS tools
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/ ./...

FROM gcr.io/distroless/static
COPY --from=tools /out/ /usr/bin/
COPY --from=gateway-build /src/target/release/gateway /usr/bin/

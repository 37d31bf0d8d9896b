# syntax=docker/dockerfile:1
# Package lists kept in a cache mount at /var/lib/apt/lists, and the Go
# module downloads at /go/pkg/mod/cache: both are caches the tools use.
FROM golang:1.23 AS build
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update && apt-get install -y --no-install-recommends protobuf-compiler
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod/cache go mod download
COPY . .
ARG VERSION
RUN --mount=type=cache,target=/go/pkg/mod/cache --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-X main.version=$VERSION" -o /out/app ./cmd/app
FROM gcr.io/distroless/static
COPY --from=build /out/app /app

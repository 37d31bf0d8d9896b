# syntax=docker/dockerfile:1
# want: toolchain-final
FROM golang:1.22
WORKDIR /src
COPY . .
# want: cache-mount
# want: copy-before-deps
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build ./...

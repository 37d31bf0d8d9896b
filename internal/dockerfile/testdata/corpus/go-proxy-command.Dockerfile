# syntax=docker/dockerfile:1
FROM golang:1.23 AS tools
# The setting before the command holds for that command: goimports and
# every module it needs are cloned from their origins.
# want: go-proxy
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build GOPROXY=direct go install golang.org/x/tools/cmd/goimports@v0.26.0
# Near misses: a proxy of one's own, and GOPROXY for a command that is not go.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build GOPROXY=https://goproxy.example.com,direct go install golang.org/x/tools/cmd/godoc@v0.26.0
RUN GOPROXY=direct ./scripts/check-env.sh

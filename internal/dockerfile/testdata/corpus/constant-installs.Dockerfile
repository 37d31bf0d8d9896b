# syntax=docker/dockerfile:1
FROM golang:1.23 AS tools
# Tools at a version, before any source: their layer re-runs only when its
# line does, so running without a cache mount is an info.
# want: cache-mount
RUN go install golang.org/x/tools/cmd/goimports@v0.26.0
WORKDIR /src
COPY go.mod go.sum ./
# The project's own dependencies re-run with every go.mod change: a warning.
# want: cache-mount
RUN go mod download

FROM node:22-slim AS web
# want: cache-mount
RUN npm install --global pnpm@9.12.3

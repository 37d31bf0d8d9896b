# syntax=docker/dockerfile:1
# Module downloads sent around the proxy: direct, a GOPRIVATE that covers
# every GitHub module, the checksum database off.
FROM golang:1.23 AS build
# want: go-proxy
ENV GOPROXY=direct
# want: go-proxy@9
# want: go-proxy@9
ENV GOPRIVATE=github.com/* GOSUMDB=off
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/app .

FROM gcr.io/distroless/static
COPY --from=build /out/app /app

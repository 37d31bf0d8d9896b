# syntax=docker/dockerfile:1
FROM debian:12 AS build
ENV GOCACHE=/cache/go-build GOMODCACHE=/cache/mod
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/cache/mod go mod download
COPY . .
RUN --mount=type=cache,target=/cache go build -o /out/app .

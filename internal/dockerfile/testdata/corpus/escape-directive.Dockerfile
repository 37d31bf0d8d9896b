# escape=`
# syntax=docker/dockerfile:1
FROM golang:1.22
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod `
    go mod download

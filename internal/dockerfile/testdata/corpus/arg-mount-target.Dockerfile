# syntax=docker/dockerfile:1
FROM golang:1.23 AS build
WORKDIR /src
COPY go.mod go.sum ./
# Near miss: the mount's target is an ARG whose default is the module cache.
ARG GOMODCACHE=/go/pkg/mod
RUN --mount=type=cache,target=${GOMODCACHE} go mod download

FROM node:22-slim AS web
WORKDIR /web
COPY package.json yarn.lock .yarnrc.yml ./
RUN corepack enable
# Yarn 2+ installs with `workspaces focus` too.
# want: cache-mount
RUN yarn workspaces focus --all --production

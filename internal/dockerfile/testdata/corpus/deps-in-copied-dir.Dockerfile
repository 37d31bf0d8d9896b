# syntax=docker/dockerfile:1
FROM golang:1.23 AS build
WORKDIR /src
COPY ./server/ /src/server/
COPY ./cli/ /src/cli/
# Each module's sources came in whole; its build then downloads what its
# go.mod names, again after every edit there.
# want: copy-before-deps
# want: cache-mount
RUN cd /src/server && go build -o /out/server .
# want: copy-before-deps
# want: cache-mount
RUN cd /src/cli && go mod download && go build -o /out/cli .

FROM golang:1.23 AS tool
# Near miss: the manifests came first and were downloaded from.
COPY ./tool/go.mod ./tool/go.sum /src/tool/
RUN --mount=type=cache,target=/go/pkg/mod cd /src/tool && go mod download
COPY ./tool/ /src/tool/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build cd /src/tool && go build -o /out/tool .

FROM node:22-slim AS web
COPY --from=build /src/server/web /app/web
# The web sources came from another stage, manifests and all.
# want: copy-before-deps
# want: cache-mount
RUN npm --prefix /app/web ci && npm --prefix /app/web run build

FROM gcr.io/distroless/static
COPY --from=build /out/server /server

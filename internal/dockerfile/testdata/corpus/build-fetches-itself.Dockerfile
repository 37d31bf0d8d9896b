# syntax=docker/dockerfile:1
# Builds that fetch their own dependencies after the whole source: a Go
# build with no module download before it and no module cache mount does
# it on every edit; one with the module cache mounted, one after a
# download, and a vendored one do not.
FROM golang:1.23 AS plain
WORKDIR /src
COPY . .
# want: copy-before-deps
# want: cache-mount
# want: whole-source-part
RUN --mount=type=cache,target=/root/.cache/go-build go build -o /out/a ./cmd/a

FROM golang:1.23 AS mounted
WORKDIR /src
COPY . .
# want: whole-source-part
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/b ./cmd/b

FROM golang:1.23 AS downloaded
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# want: whole-source-part
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/c ./cmd/c

FROM golang:1.23 AS vendored
WORKDIR /src
COPY . .
# want: whole-source-part
RUN --mount=type=cache,target=/root/.cache/go-build go build -mod=vendor -o /out/d ./cmd/d

FROM gcr.io/distroless/static
COPY --from=plain /out/a /a
COPY --from=mounted /out/b /b
COPY --from=downloaded /out/c /c
COPY --from=vendored /out/d /d

# syntax=docker/dockerfile:1
FROM golang:1.23 AS build
WORKDIR /src
COPY go.mod go.sum ./
# want: cache-mount
RUN go mod download
COPY . .
# The modules are in the layer above, so this build downloads nothing and
# needs no module mount: only an info that the fix of line 6 must mount
# the module cache here too (--fix does both in one pass).
# want: cache-mount
RUN --mount=type=cache,target=/root/.cache/go-build go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static
COPY --from=build /out/app /app

# syntax=docker/dockerfile:1
FROM golang:1.23 AS deps
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

FROM deps AS gateway-build
COPY . .
# want: whole-source-part
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/gateway ./cmd/gateway

FROM deps AS cluster-build
COPY . .
# want: whole-source-part
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build CGO_ENABLED=0 go build -trimpath -o /out/cluster ./cmd/cluster

FROM gcr.io/distroless/static AS gateway
COPY --from=gateway-build /out/gateway /gateway

FROM gcr.io/distroless/static AS cluster
COPY --from=cluster-build /out/cluster /cluster

# syntax=docker/dockerfile:1
# A proxy of the team's own and one private module path: as meant.
FROM golang:1.23 AS build
ENV GOPROXY=https://goproxy.example.com,direct GOPRIVATE=git.example.com/platform
ARG GONOSUMDB=git.example.com/platform
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go env -w GOFLAGS=-trimpath && go build -o /out/app .

FROM gcr.io/distroless/static
COPY --from=build /out/app /app

# syntax=docker/dockerfile:1
FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build go build -mod=vendor -o /out/app ./cmd/app
FROM scratch
COPY --from=build /out/app /app
